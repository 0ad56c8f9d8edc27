-- wrk script: POST refresh. Each thread starts from the refresh tokens its
-- namesake thread of the authorize run kept, spends one per request and puts
-- the new one it gets back at the end of its queue.
--   wrk ... -s refresh.lua URL -- <token-dir>
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local queue, head, tail = {}, 1, 0
function init(args)
  for line in io.lines(args[1] .. "/refresh-" .. tid .. ".txt") do
    tail = tail + 1
    queue[tail] = line
  end
end

function request()
  local token = "exhausted"
  if head <= tail then
    token = queue[head]
    queue[head] = nil
    head = head + 1
  end
  return wrk.format(nil, nil, nil, '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then
    tail = tail + 1
    queue[tail] = token
  end
end
