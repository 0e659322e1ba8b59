-- Requests built per call: a unique Idempotency-Key (prefix .. counter) and a varying amount.
-- args: method, path, auth ("" for none), key prefix
local counter = 0
local method, path, auth, prefix

function init(args)
  method, path, auth, prefix = args[1], args[2], args[3], args[4] .. "-" .. tostring(math.random(1, 1e9)) .. "-"
end

function request()
  counter = counter + 1
  local body = string.format('{"value":%d.%02d}', 1 + counter % 9999, counter % 100)
  local headers = { ["Content-Type"] = "application/json", ["Idempotency-Key"] = prefix .. counter }
  if auth ~= "" then headers["Authorization"] = auth end
  return wrk.format(method, path, headers, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
