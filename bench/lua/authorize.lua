-- wrk script: POST authorize, every request a new user (a code never sent
-- before). When a directory is given, each thread adds the refresh tokens it
-- receives to refresh-<thread>.txt there, for the refresh run that follows.
-- The run prefix must differ between runs (the benchmark gives each slice its
-- own). With a number of addresses, each request claims to come from one of
-- that many (X-Real-IP, for a server told to trust it), in turn: a morning
-- peak's many clients, each with its own rate-limit bucket.
--   wrk ... -s authorize.lua URL -- <run-prefix> [<token-dir> | -] [<addresses>]
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local n, prefix, out, addresses = 0, "bench", nil, nil
function init(args)
  prefix = (args[1] or "bench") .. "-" .. tid
  addresses = tonumber(args[3] or "")
  if args[2] and args[2] ~= "-" then
    out = io.open(args[2] .. "/refresh-" .. tid .. ".txt", "a")
    out:setvbuf("line")
  end
end

function request()
  n = n + 1
  if addresses then
    local a = n % addresses
    wrk.headers["X-Real-IP"] = string.format("10.%d.%d.%d", tid % 256, math.floor(a / 256) % 256, a % 256)
  end
  return wrk.format(nil, nil, nil, '{"code":"' .. prefix .. "-" .. n .. '","nickName":"bench ' .. n .. '"}')
end

function response(status, headers, body)
  if out and status == 200 then
    local token = body:match('"refresh_token":"([^"]+)"')
    if token then out:write(token, "\n") end
  end
end
