-- wrk script: POST refresh. Each thread starts from the refresh tokens its
-- namesake thread of the authorize run kept, spends one per request and puts
-- the new one it gets back at the end of its queue. Run in slices, slice k of
-- n takes every n-th token from the k-th on, so no two slices spend the same.
--   wrk ... -s refresh.lua URL -- <token-dir> [<slice> <slices>]
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local queue, head, tail = {}, 1, 0
function init(args)
  local slice, slices = tonumber(args[2]) or 0, tonumber(args[3]) or 1
  local i = 0
  for line in io.lines(args[1] .. "/refresh-" .. tid .. ".txt") do
    if i % slices == slice then
      tail = tail + 1
      queue[tail] = line
    end
    i = i + 1
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
