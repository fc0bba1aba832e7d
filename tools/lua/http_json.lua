-- http_json: calls a JSON API (GET or POST) and returns the status and the decoded body.
return {
  name = "http_json",
  description = "Call a JSON HTTP API: GET, or POST with a JSON body. Returns {status, body} with the " ..
                "response body decoded from JSON when it is JSON.",
  parameters = {
    type = "object",
    properties = {
      url = { type = "string", description = "http:// or https:// URL" },
      method = { type = "string", enum = { "GET", "POST" }, description = "default GET" },
      body = { description = "POST: the JSON value to send" },
      headers = { type = "object", additionalProperties = { type = "string" }, description = "extra request headers" },
    },
    required = { "url" },
  },
  run = function(args, ctx)
    local headers = { ["Accept"] = "application/json" }
    for k, v in pairs(args.headers or {}) do headers[k] = v end
    local r, err
    if (args.method or "GET") == "POST" then
      local body = args.body == nil and "null" or ctx.json.encode(args.body)
      r, err = ctx.http.post(args.url, body, { headers = headers, content_type = "application/json" })
    else
      r, err = ctx.http.get(args.url, { headers = headers })
    end
    if not r then error(err, 0) end
    local ok, decoded = pcall(ctx.json.decode, r.body)
    return ctx.json.encode({ status = r.status, body = ok and decoded or r.body, truncated = r.truncated or nil })
  end,
}
