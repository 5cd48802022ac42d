-- One wrk script for every measurement, configured by environment variables:
--   BENCH_TOKEN  sets "Authorization: Bearer <token>"
--   BENCH_BODY   makes the request a POST of this JSON body
-- At the end it prints one machine-readable line for bench/load.py:
--   BENCH {"requests":..,"duration_us":..,"p50_us":..,"p99_us":..,"errors":..,"non2xx":..}
local token = os.getenv("BENCH_TOKEN")
local body = os.getenv("BENCH_BODY")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
if body and body ~= "" then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"errors":%d,"non2xx":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect + e.read + e.write + e.timeout, e.status))
end
