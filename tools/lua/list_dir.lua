-- list_dir: the entries of a workspace directory, directories first.
return {
  name = "list_dir",
  description = "List a directory of the workspace: one entry per line, directories with a trailing '/', " ..
                "files with their size in bytes.",
  parameters = {
    type = "object",
    properties = {
      path = { type = "string", description = "directory relative to the workspace (default '.')" },
    },
  },
  run = function(args, ctx)
    local entries, err = ctx.fs.list(args.path or ".")
    if not entries then error(err, 0) end
    table.sort(entries, function(a, b)
      if (a.type == "dir") ~= (b.type == "dir") then return a.type == "dir" end
      return a.name < b.name
    end)
    local lines = {}
    for _, e in ipairs(entries) do
      if e.type == "dir" then lines[#lines + 1] = e.name .. "/"
      elseif e.type == "link" then lines[#lines + 1] = e.name .. " (link)"
      else lines[#lines + 1] = ("%s  %d"):format(e.name, e.size or 0) end
    end
    if #lines == 0 then return "(empty directory)" end
    return table.concat(lines, "\n")
  end,
}
