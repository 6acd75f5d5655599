-- Lua workload for bench/compare --programs: building and dropping tables
-- and strings; deterministic output. arg[1]: scale.
local scale = tonumber(arg[1])
local x = 12345
local function rnd()
  x = (x * 1103515245 + 12345) % 2147483648
  return x
end
local total = 0
for r = 1, scale do
  local t = {}
  for i = 1, 20000 do
    local k = "k" .. (rnd() % 60000) .. "_" .. (i % 7)
    local v = {}
    for j = 1, rnd() % 10 do v[j] = string.rep("v", rnd() % 40 + 1) end
    t[k] = v
  end
  local keys = {}
  for k, v in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local buf = {}
  for i = 1, #keys, 3 do
    local v = t[keys[i]]
    buf[#buf + 1] = keys[i] .. ":" .. #v
    for j = 1, #v do total = total + #v[j] end
  end
  local s = table.concat(buf, ",")
  total = total + #s
  for w in s:gmatch("k(%d+)_3") do total = total + (tonumber(w) % 7) end
  t, keys, buf = nil, nil, nil
  collectgarbage()
end
print(total)
