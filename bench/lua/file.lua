-- Replays raw HTTP requests read from a file (records separated by "\0"), in order, from arg 2 onward.
-- Used for pre-signed webhooks (each a distinct delivery) and pre-built reads. After the last record it
-- wraps around; the runner counts how many requests were real transitions.
local reqs = {}
local i = 0

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  for rec in string.gmatch(data, "([^%z]+)") do reqs[#reqs + 1] = rec end
end

function request()
  i = i + 1
  if i > #reqs then i = 1 end
  return reqs[i]
end

function done(summary, latency, requests)
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
