-- web_fetch: a web page as readable text (HTML reduced by the host's HTML parser).
return {
  name = "web_fetch",
  description = "Fetch a web page (http or https) and return its title and readable text.",
  parameters = {
    type = "object",
    properties = {
      url = { type = "string", description = "http:// or https:// URL" },
      max_chars = { type = "integer", minimum = 100, maximum = 200000, description = "default 20000" },
    },
    required = { "url" },
  },
  run = function(args, ctx)
    local r, err = ctx.http.get(args.url, { headers = { ["Accept"] = "text/html, text/plain;q=0.9, */*;q=0.5" } })
    if not r then error(err, 0) end
    if r.status >= 400 then error(("HTTP status %d from %s"):format(r.status, args.url), 0) end
    local ctype = (r.headers["content-type"] or ""):lower()
    local title, text
    if ctype:find("html", 1, true) or (ctype == "" and r.body:sub(1, 512):lower():find("<html", 1, true)) then
      title, text = ctx.html.title(r.body), ctx.html.text(r.body)
    elseif ctype:find("^text/") or ctype:find("json", 1, true) or ctype:find("xml", 1, true) then
      text = r.body
    else
      error(("%s is not text (Content-Type %s)"):format(args.url, ctype), 0)
    end
    local max = args.max_chars or 20000
    local cut = #text > max
    if cut then text = text:sub(1, max) end
    local head = "URL: " .. args.url .. (title and title ~= "" and ("\nTitle: " .. title) or "")
    return head .. "\n\n" .. text .. ((cut or r.truncated) and "\n[... page cut]" or "")
  end,
}
