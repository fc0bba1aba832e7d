-- calculator: evaluates an arithmetic expression with its own parser (no load(),
-- so the expression can only ever be arithmetic).
local functions = {
  sqrt = math.sqrt, abs = math.abs, floor = math.floor, ceil = math.ceil, exp = math.exp,
  sin = math.sin, cos = math.cos, tan = math.tan, asin = math.asin, acos = math.acos, atan = math.atan,
  ln = math.log, log10 = function(x) return math.log(x, 10) end, log2 = function(x) return math.log(x, 2) end,
  log = function(x, base) return math.log(x, base) end,
  round = function(x) return x >= 0 and math.floor(x + 0.5) or math.ceil(x - 0.5) end,
  min = math.min, max = math.max,
}
local constants = { pi = math.pi, e = math.exp(1) }

local function evaluate(text)
  local pos = 1
  local function fail(msg) error(("%s at character %d of the expression"):format(msg, pos), 0) end
  local function skip() pos = text:find("[^ \t\n]", pos) or #text + 1 end
  local function peek() skip(); return text:sub(pos, pos) end
  local expr
  local function atom()
    local c = peek()
    local num = text:match("^%d*%.?%d+[eE][-+]?%d+", pos) or text:match("^%d+%.?%d*", pos) or text:match("^%.%d+", pos)
    if num then pos = pos + #num; return tonumber(num) end
    if c == "(" then
      pos = pos + 1
      local v = expr()
      if peek() ~= ")" then fail("expected ')'") end
      pos = pos + 1
      return v
    end
    local name = text:match("^[%a_][%w_]*", pos)
    if not name then fail(c == "" and "the expression ends too early" or ("unexpected '" .. c .. "'")) end
    pos = pos + #name
    if peek() == "(" then
      local f = functions[name]
      if not f then fail("unknown function '" .. name .. "'") end
      pos = pos + 1
      local args = {}
      if peek() ~= ")" then
        repeat
          if #args > 0 then pos = pos + 1 end
          args[#args + 1] = expr()
        until peek() ~= ","
      end
      if peek() ~= ")" then fail("expected ')' after the arguments of " .. name) end
      pos = pos + 1
      return f(table.unpack(args))
    end
    local v = constants[name]
    if not v then fail("unknown name '" .. name .. "'") end
    return v
  end
  local unary
  local function power()
    local base = atom()
    if peek() == "^" then pos = pos + 1; return base ^ unary() end
    return base
  end
  function unary()
    local c = peek()
    if c == "-" then pos = pos + 1; return -unary() end
    if c == "+" then pos = pos + 1; return unary() end
    return power()
  end
  local function term()
    local v = unary()
    while true do
      local c = peek()
      if c == "*" then pos = pos + 1; v = v * unary()
      elseif c == "/" or c == "%" then
        pos = pos + 1
        local d = unary()
        if d == 0 then fail("division by zero") end
        if c == "/" then v = v / d else v = math.fmod(v, d) end
      else return v end
    end
  end
  function expr()
    local v = term()
    while true do
      local c = peek()
      if c == "+" then pos = pos + 1; v = v + term()
      elseif c == "-" then pos = pos + 1; v = v - term()
      else return v end
    end
  end
  local v = expr()
  if peek() ~= "" then fail("unexpected '" .. peek() .. "'") end
  return v
end

return {
  name = "calculator",
  description = "Evaluate an arithmetic expression: + - * / % ^, parentheses, pi, e and the functions " ..
                "sqrt abs floor ceil round exp ln log(x[,base]) log10 log2 sin cos tan asin acos atan min max.",
  parameters = {
    type = "object",
    properties = { expression = { type = "string", description = "e.g. (2 + 3) * sqrt(16) / 4" } },
    required = { "expression" },
  },
  run = function(args, ctx)
    if #args.expression > 2000 then error("the expression is longer than 2000 characters", 0) end
    local v = evaluate(args.expression)
    if v ~= v then error("the result is not a number", 0) end
    if v == math.huge or v == -math.huge then error("the result is infinite", 0) end
    if v == math.floor(v) and math.abs(v) < 2^53 then return ("%d"):format(v) end
    return ("%.15g"):format(v)
  end,
}
