-- wrk script: POST authorize, every request a new user (a code never sent
-- before). When a directory is given, each thread adds the refresh tokens it
-- receives to refresh-<thread>.txt there, for the refresh run that follows.
-- The run prefix must differ between runs (the benchmark gives each slice its
-- own).
--   wrk ... -s authorize.lua URL -- <run-prefix> [<token-dir>]
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local n, prefix, out = 0, "bench", nil
function init(args)
  prefix = (args[1] or "bench") .. "-" .. tid
  if args[2] then
    out = io.open(args[2] .. "/refresh-" .. tid .. ".txt", "a")
    out:setvbuf("line")
  end
end

function request()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"code":"' .. prefix .. "-" .. n .. '","nickName":"bench ' .. n .. '"}')
end

function response(status, headers, body)
  if out and status == 200 then
    local token = body:match('"refresh_token":"([^"]+)"')
    if token then out:write(token, "\n") end
  end
end
