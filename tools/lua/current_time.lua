-- current_time: the date and time now, in UTC or the machine's local time.
return {
  name = "current_time",
  description = "The current date and time (RFC 3339), in UTC or the local time zone, with the weekday.",
  parameters = {
    type = "object",
    properties = {
      zone = { type = "string", enum = { "utc", "local" }, description = "default utc" },
    },
  },
  run = function(args, ctx)
    local zone = args.zone or "utc"
    local t = ctx.time.now()
    local stamp = zone == "utc" and ctx.time.iso(t) or ctx.time.format("%Y-%m-%dT%H:%M:%S%z", t, "local")
    return ("%s (%s, %s)"):format(stamp, ctx.time.format("%A", t, zone), zone == "utc" and "UTC" or
                                  ctx.time.format("%Z", t, "local"))
  end,
}
