-- wrk script: GET status with many valid tokens, as a backend service sees
-- them — one per user, not the same one over and over (which would let any
-- per-request cache or batch look better than it is). The requests are built
-- once; each thread walks the list from its own starting point.
--   wrk ... -s status.lua URL -- <token-file>
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local requests, count, next_one = {}, 0, 1
function init(args)
  for token in io.lines(args[1]) do
    count = count + 1
    requests[count] = wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. token })
  end
  next_one = ((tid - 1) * 7919) % count + 1
end

function request()
  local r = requests[next_one]
  next_one = next_one % count + 1
  return r
end
