-- run_shell: a shell command in the workspace (needs --allow-shell and approval).
return {
  name = "run_shell",
  description = "Run a shell command (/bin/sh -c) in the workspace and return its exit status, stdout and stderr.",
  executes = true,
  parameters = {
    type = "object",
    properties = {
      command = { type = "string", description = "the command line" },
      timeout = { type = "number", minimum = 1, maximum = 600, description = "seconds (default 30)" },
    },
    required = { "command" },
  },
  run = function(args, ctx)
    local r, err = ctx.proc.run({ "/bin/sh", "-c", args.command }, { timeout = args.timeout or 30 })
    if not r then error(err, 0) end
    local out = {}
    if r.timed_out then out[#out + 1] = "timed out" end
    out[#out + 1] = r.signal and r.signal ~= 0 and ("killed by signal %d"):format(r.signal) or ("exit status %d"):format(r.code or -1)
    if r.stdout ~= "" then out[#out + 1] = "stdout:\n" .. r.stdout end
    if r.stderr ~= "" then out[#out + 1] = "stderr:\n" .. r.stderr end
    if r.truncated then out[#out + 1] = "(output truncated)" end
    return table.concat(out, "\n")
  end,
}
