-- socket_helpers.lua: the name older specs require; everything is in helpers.lua.
return require "helpers"
