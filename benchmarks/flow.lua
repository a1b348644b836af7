-- One wrk script for every flow of `make bench` (benchmarks/load.py starts wrk with it).
--
--   wrk ... -s benchmarks/flow.lua URL -- MODE FILE METHOD PATH THREADS [BODY]
--
-- MODE static: the same request every time (no FILE: "-").
-- MODE bearer: FILE holds one access token per line, sent as `Authorization: Bearer <token>`;
--              with a BODY (not "-"), that JSON body goes with every request (the `create` flow).
-- MODE path_bearer: FILE holds `PATH TOKEN` per line (a file of the token's own tenant, for the
--              `detail` flow): the request goes to that line's PATH with `Authorization: Bearer
--              TOKEN`; the PATH argument is unused. Each line's request is formatted once, in init().
-- MODE json:   FILE holds one JSON body per line (login bodies, `{"refresh": ...}`), POSTed in turn.
-- MODE cookie: FILE holds `PATH COOKIE` per line (a portal's dashboard and a signed-in browser's
--              `sessionid=...`): the request goes to that line's PATH with `Cookie: COOKIE`; the
--              PATH argument is unused. Each line's request is formatted once, in init().
--
-- Each thread takes its own contiguous slice of FILE and goes through it in order, so with
-- single-use refresh tokens no token is sent twice unless a slice runs out (then it wraps, and
-- done() reports how many were sent again). done() prints one line, `BENCH_JSON {...}`: the
-- counts, errors, and wrk's latency distribution in microseconds.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  mode, file, method, path = args[1], args[2], args[3], args[4]
  local nthreads = tonumber(args[5]) or 1
  if args[6] and args[6] ~= "-" then body = args[6] end
  used, nitems, items, idx = 0, 0, {}, 0
  if mode == "static" then
    fixed = wrk.format(method, path)
    return
  end
  local all = {}
  for line in io.lines(file) do
    if #line > 0 then all[#all + 1] = line end
  end
  local per = math.floor(#all / nthreads)
  local first = tid * per + 1
  local last = first + per - 1
  if tid == nthreads - 1 then last = #all end
  for i = first, last do items[#items + 1] = all[i] end
  if #items == 0 then items = all end -- fewer lines than threads: share them
  nitems = #items
  if mode == "cookie" then
    for i, line in ipairs(items) do
      local p, c = line:match("^(%S+) (.+)$")
      items[i] = wrk.format(method, p, { ["Cookie"] = c })
    end
  elseif mode == "path_bearer" then
    for i, line in ipairs(items) do
      local p, t = line:match("^(%S+) (%S+)$")
      items[i] = wrk.format(method, p, { ["Authorization"] = "Bearer " .. t })
    end
  end
end

function request()
  used = used + 1
  if fixed then return fixed end
  idx = idx + 1
  if idx > nitems then idx = 1 end
  local item = items[idx]
  if mode == "cookie" or mode == "path_bearer" then return item end
  if mode == "bearer" then
    if body then
      return wrk.format(method, path, { ["Authorization"] = "Bearer " .. item, ["Content-Type"] = "application/json" }, body)
    end
    return wrk.format(method, path, { ["Authorization"] = "Bearer " .. item })
  end
  return wrk.format(method, path, { ["Content-Type"] = "application/json" }, item)
end

function done(summary, latency, requests)
  local per_thread = {}
  for _, t in ipairs(threads) do
    per_thread[#per_thread + 1] = string.format('{"used": %d, "items": %d}', t:get("used"), t:get("nitems"))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "stdev": %.1f, "min": %.1f, "max": %.1f, "p50": %.1f, "p90": %.1f, "p99": %.1f}, ' ..
    '"threads": [%s]}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.min, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    table.concat(per_thread, ", ")))
end
