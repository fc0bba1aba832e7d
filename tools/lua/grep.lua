-- grep: searches the workspace's text files for a string (or a Lua pattern).
local MAX_FILES, MAX_FILE_BYTES = 5000, 1024 * 1024

return {
  name = "grep",
  description = "Search the text files under a workspace directory for a string; returns 'path:line: text' " ..
                "lines. Hidden files and directories are skipped. With lua_pattern the search string is a " ..
                "Lua pattern (e.g. 'fo+%d') instead of plain text.",
  parameters = {
    type = "object",
    properties = {
      pattern = { type = "string", minLength = 1, description = "the text to find" },
      path = { type = "string", description = "file or directory to search (default '.')" },
      ignore_case = { type = "boolean", description = "default false" },
      lua_pattern = { type = "boolean", description = "pattern is a Lua pattern (default false: plain text)" },
      suffix = { type = "string", description = "only files whose name ends with this, e.g. '.c'" },
      max_matches = { type = "integer", minimum = 1, maximum = 1000, description = "default 100" },
    },
    required = { "pattern" },
  },
  run = function(args, ctx)
    local needle = args.ignore_case and args.pattern:lower() or args.pattern
    local plain = not args.lua_pattern
    if not plain and not pcall(string.find, "", needle) then error("bad Lua pattern: " .. needle, 0) end
    local max = args.max_matches or 100
    local out, files = {}, 0
    local function search_file(path)
      files = files + 1
      if files > MAX_FILES then return end
      local text = ctx.fs.read(path, MAX_FILE_BYTES)
      if not text or text:find("\0", 1, true) then return end
      local n = 0
      for line in text:gmatch("([^\n]*)\n?") do
        n = n + 1
        if #out >= max then return end
        local hay = args.ignore_case and line:lower() or line
        if hay:find(needle, 1, plain) then
          out[#out + 1] = ("%s:%d: %s"):format(path, n, #line > 200 and line:sub(1, 200) .. "..." or line)
        end
      end
    end
    local function walk(dir)
      local entries, err = ctx.fs.list(dir)
      if not entries then error(err, 0) end
      table.sort(entries, function(a, b) return a.name < b.name end)
      for _, e in ipairs(entries) do
        if #out >= max or files > MAX_FILES then return end
        local path = dir == "." and e.name or dir .. "/" .. e.name
        if e.name:sub(1, 1) ~= "." then
          if e.type == "dir" then walk(path)
          elseif e.type == "file" and (not args.suffix or e.name:sub(-#args.suffix) == args.suffix) then search_file(path) end
        end
      end
    end
    local root = args.path or "."
    local st, err = ctx.fs.stat(root)
    if not st then error(err, 0) end
    if st.type == "dir" then walk(root) else search_file(root) end
    if #out == 0 then return "no matches" end
    if #out >= max then out[#out + 1] = ("(stopped at %d matches)"):format(max) end
    return table.concat(out, "\n")
  end,
}
