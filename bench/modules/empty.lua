-- empty.lua: a module that holds nothing but its state, sandbox and prelude,
-- and waits; bench/run loads many to weigh one.
log("ready")
while true do sleep(1e6) end
