local t = {} for i = 1, 300 do t[i] = i end
return function() return a1 + a2 + math.pi end
