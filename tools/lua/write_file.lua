-- write_file: creates or replaces (or appends to) a text file in the workspace.
return {
  name = "write_file",
  description = "Write text to a file in the workspace, replacing it (or appending when append is true). " ..
                "Creates the file if needed; its directory must exist.",
  writes = true,
  parameters = {
    type = "object",
    properties = {
      path = { type = "string", description = "path relative to the workspace" },
      content = { type = "string", description = "the text to write" },
      append = { type = "boolean", description = "append instead of replacing (default false)" },
    },
    required = { "path", "content" },
  },
  run = function(args, ctx)
    local ok, err = ctx.fs.write(args.path, args.content, args.append and "append" or nil)
    if not ok then error(err, 0) end
    return ("wrote %d bytes to %s"):format(#args.content, args.path)
  end,
}
