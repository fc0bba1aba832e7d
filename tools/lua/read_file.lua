-- read_file: a text file of the workspace, whole or a range of lines.
return {
  name = "read_file",
  description = "Read a text file from the workspace. Optionally only lines first_line..last_line (1-based). " ..
                "Lines are returned as they are, without numbers.",
  parameters = {
    type = "object",
    properties = {
      path = { type = "string", description = "path relative to the workspace" },
      first_line = { type = "integer", minimum = 1, description = "first line to return (default 1)" },
      last_line = { type = "integer", minimum = 1, description = "last line to return (default: the end)" },
    },
    required = { "path" },
  },
  run = function(args, ctx)
    local text, err = ctx.fs.read(args.path)
    if not text then error(err, 0) end
    if not args.first_line and not args.last_line then return text end
    local first, last = args.first_line or 1, args.last_line or math.huge
    if last < first then error("last_line is before first_line", 0) end
    local out, n = {}, 0
    for line in (text .. (text:sub(-1) == "\n" and "" or "\n")):gmatch("([^\n]*)\n") do
      n = n + 1
      if n > last then break end
      if n >= first then out[#out + 1] = line end
    end
    if #out == 0 then error(("the file has %d lines"):format(n), 0) end
    return table.concat(out, "\n")
  end,
}
