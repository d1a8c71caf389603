local x = sokcet.open(1)
function f() return string.fromat(y) end
z = 1
print(z)
