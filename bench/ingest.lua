-- wrk script for bench/ingest.py: POST a valid rating with a unique client_id per request.
--
--   wrk -t 2 -c 8 -d 5s -s bench/ingest.lua http://127.0.0.1:8000/api/ratings -- RUNID [BAD% [PHONE%]]
--
-- BAD% of the ratings (default 5) are bad (score 1 or 2, with a reason and a comment),
-- the rest 3 to 5; PHONE% (default 30) leave a phone number, so the server opens
-- callback, verify and sampled cases as a hall's traffic would.
-- Each rating comes from a phone of its own on the QR page (its own kiosk_rater cookie):
-- the server's misuse screen looks each one up, and none is a repeat. (Kiosk taps
-- need a paired tablet, and a dozen tablets tapping a hundred times a second would
-- all be flagged as button mashing.)
-- client_id = RUNID-<thread>-<counter>-<random>, unique within a run (and across runs
-- when RUNID is). Every answer is counted by status; the client ids of the 201s are
-- written one a line to $INGEST_ACKS (when set), so the caller can check that every
-- 201 was stored and nothing else was.

local threads = {}
local next_tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
  table.insert(threads, thread)
end

local WINDOWS = {}
for i = 0, 11 do WINDOWS[#WINDOWS + 1] = string.format("W%02d", i) end

local headers = {["Content-Type"] = "application/json", ["Cookie"] = ""}
local run_id, salt, bad_share, phone_share
counter, acks, n201, n200, nother = 0, {}, 0, 0, 0  -- globals: read back in done()

function init(args)
  run_id = args[1] or "run"
  bad_share = tonumber(args[2] or "5") / 100
  phone_share = tonumber(args[3] or "30") / 100
  math.randomseed(os.time() * 1000 + (tid or 0))
  salt = string.format("%06x", math.random(0, 0xffffff))
end

function request()
  counter = counter + 1
  local cid = string.format("%s-%d-%d-%s", run_id, tid, counter, salt)
  local bad = math.random() < bad_share
  local score = bad and math.random(1, 2) or math.random(3, 5)
  local phone = 'null'
  if math.random() < phone_share then
    phone = string.format('"139%08d"', math.random(0, 99999999))
  end
  local body = string.format(
    '{"window":"%s","score":%d,"channel":"qr","client_id":"%s","reasons":%s,' ..
    '"comment":%s,"phone":%s}',
    WINDOWS[(tid + counter) % #WINDOWS + 1], score, cid,
    bad and '["waiting"]' or '[]', bad and '"排队时间太长"' or 'null', phone)
  headers["Cookie"] = "kiosk_rater=" .. cid
  return wrk.format("POST", nil, headers, body)
end

function response(status, _, body)
  if status == 201 then
    n201 = n201 + 1
    acks[n201] = string.match(body, '"client_id":"([^"]*)"')
  elseif status == 200 then
    n200 = n200 + 1
  else
    nother = nother + 1
  end
end

function done(summary, latency, _)
  local sent, t201, t200, tother = 0, 0, 0, 0
  local out = os.getenv("INGEST_ACKS")
  local f = out and io.open(out, "w")
  for _, thread in ipairs(threads) do
    sent = sent + thread:get("counter")
    t201 = t201 + thread:get("n201")
    t200 = t200 + thread:get("n200")
    tother = tother + thread:get("nother")
    if f then
      for _, cid in ipairs(thread:get("acks")) do f:write(cid, "\n") end
    end
  end
  if f then f:close() end
  local e = summary.errors
  io.write(string.format(
    "INGEST sent=%d requests=%d duration_us=%d s201=%d s200=%d other=%d non2xx=%d " ..
    "connect=%d read=%d write=%d timeout=%d lat_mean_us=%.0f lat_p50_us=%d lat_p99_us=%d\n",
    sent, summary.requests, summary.duration, t201, t200, tother, e.status,
    e.connect, e.read, e.write, e.timeout, latency.mean,
    latency:percentile(50), latency:percentile(99)))
end
