// The Lua scripts of a durable lane. Each runs atomically on the server, so that every move of a
// job (stored, delayed, acknowledged, scheduled again, dead-lettered, promoted, claimed) happens
// whole or not at all, whatever other processes do meanwhile.
//
// Keys of queue Q under prefix P share the hash tag {P:Q}: <base>:stream (ready jobs; consumer
// group "workers"), <base>:scheduled (sorted by due time, ms), <base>:ids (the id counter),
// <base>:dead (letter ids by time) and <base>:dead:<id> (a letter), <base>:key:<k> (an
// idempotency key: the id of the job holding it), <base>:debounce:<type>:<k> (a debounce key: the
// scheduled-set member of the job waiting under it), <base>:paused. A stream entry's fields: id,
// type, payload, at (ms), and only where they differ from their defaults: attempt (1), max (0:
// the type's), timeout (ns; 0: the type's), key (none), headers (a JSON object of strings; none),
// hold ('started' for a key held until the run starts; none: until done), flow (its place in a
// chain; none). <base>:result:<id> holds a job's result for Config::result_ttl. Times come from the server's clock
// (TIME), so that every process agrees on what is due.
//
// Settled entries are acknowledged, never deleted one by one (XDEL costs about 1.7 us an entry):
// the keeper trims the stream below the oldest entry still pending or undelivered
// (trim_script), so that the group's lag stays exact.
#pragma once

namespace jobq::redis::detail {

// Appends a job to the stream with only its non-default fields.
#define JOBQ_LUA_XADD \
  "local function xadd(stream, id, jobtype, payload, attempt, max, timeout, key, at, headers, hold, flow) " \
  "  local f = {'id', id, 'type', jobtype, 'payload', payload, 'at', at} " \
  "  if attempt ~= '1' then f[#f + 1] = 'attempt' f[#f + 1] = attempt end " \
  "  if max ~= '0' and max ~= '' then f[#f + 1] = 'max' f[#f + 1] = max end " \
  "  if timeout ~= '0' and timeout ~= '' then f[#f + 1] = 'timeout' f[#f + 1] = timeout end " \
  "  if key ~= '' then f[#f + 1] = 'key' f[#f + 1] = key end " \
  "  if headers ~= nil and headers ~= '' then f[#f + 1] = 'headers' f[#f + 1] = headers end " \
  "  if key ~= '' and hold ~= nil and hold ~= '' then f[#f + 1] = 'hold' f[#f + 1] = hold end " \
  "  if flow ~= nil and flow ~= '' then f[#f + 1] = 'flow' f[#f + 1] = flow end " \
  "  return redis.call('XADD', stream, '*', unpack(f)) " \
  "end "
// True when entry `id` is pending for `consumer`: XACK alone would acknowledge an entry that
// another process claimed after this one's lease lapsed, and lose or double its outcome.
#define JOBQ_LUA_MINE \
  "local function mine(stream, group, consumer, id) " \
  "  return #redis.call('XPENDING', stream, group, id, id, 1, consumer) == 1 " \
  "end "
// The server's time in milliseconds, as a local `now`.
#define JOBQ_LUA_NOW "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "

/// KEYS: stream, scheduled, ids, key ('' for none). ARGV: type, payload, key, max, timeout,
/// delay ms (0 now, -1 forever), headers ('' for none), hold ('' or 'started'), flow ('' for
/// none). Returns {1, id}, or {0, holder} when the key is held.
inline constexpr const char* append_script = JOBQ_LUA_NOW JOBQ_LUA_XADD R"lua(
local id = string.format('%d', redis.call('INCR', KEYS[3]))
if ARGV[3] ~= '' then
  if not redis.call('SET', KEYS[4], id, 'NX') then return {0, redis.call('GET', KEYS[4])} end
end
local delay = tonumber(ARGV[6])
if delay ~= 0 then
  local due = '+inf'
  if delay > 0 then due = now + delay end
  redis.call('ZADD', KEYS[2], due, cjson.encode({id = id, type = ARGV[1], payload = ARGV[2], attempt = '1',
    max = ARGV[4], timeout = ARGV[5], key = ARGV[3], at = string.format('%d', now), headers = ARGV[7], hold = ARGV[8],
    flow = ARGV[9]}))
else
  xadd(KEYS[1], id, ARGV[1], ARGV[2], '1', ARGV[4], ARGV[5], ARGV[3], string.format('%d', now), ARGV[7], ARGV[8], ARGV[9])
end
return {1, id}
)lua";

/// A debounced dispatch: the job waits `window` in the scheduled set under its debounce key; while
/// it waits, the next dispatch with the key takes its place (its id stays) and restarts the
/// window. KEYS: scheduled, ids, debounce key. ARGV: type, payload, max, timeout, window ms,
/// headers. Returns {1, id} for a new job, {2, id} for one that took a waiting job's place.
inline constexpr const char* debounce_script = JOBQ_LUA_NOW R"lua(
local window = tonumber(ARGV[5])
local waiting = redis.call('GET', KEYS[3])
local id
local folded = 0
if waiting and redis.call('ZSCORE', KEYS[1], waiting) then
  local ok, job = pcall(cjson.decode, waiting)
  if ok and type(job) == 'table' and job.id then
    id = tostring(job.id)
    folded = 1
  end
  redis.call('ZREM', KEYS[1], waiting)
end
if not id then id = string.format('%d', redis.call('INCR', KEYS[2])) end
local member = cjson.encode({id = id, type = ARGV[1], payload = ARGV[2], attempt = '1', max = ARGV[3],
  timeout = ARGV[4], key = '', at = string.format('%d', now), headers = ARGV[6]})
redis.call('ZADD', KEYS[1], now + window, member)
-- Kept a minute past the window: once the job is promoted the member is gone from the set, and
-- the next dispatch starts a new burst whether or not the key is still there.
redis.call('SET', KEYS[3], member, 'PX', window + 60000)
return {1 + folded, id}
)lua";

/// Limits for the fleet (Limits): <base>:limit:<scope>:rate holds a rate limit's theoretical
/// arrival time (GCRA, in microseconds of the server's clock), <base>:limit:<scope>:running the
/// holders of running slots, scored by when their lease lapses. <scope> is "queue" or a job type.

/// Books one start. KEYS: the rate key. ARGV: interval us, tolerance us. Returns the wait in us.
inline constexpr const char* book_start_script = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local after = math.max(tat, now) + interval
redis.call('SET', KEYS[1], string.format('%d', after), 'PX', math.floor((after - now) / 1000) + 1000)
return math.max(0, tat - tonumber(ARGV[2]) - now)
)lua";

/// Takes a running slot. KEYS: the running key. ARGV: limit, holder, lease ms. Slots of holders
/// whose lease lapsed (their process died) are freed first. Returns 1 when taken, 0 when full.
inline constexpr const char* acquire_slot_script = JOBQ_LUA_NOW R"lua(
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[2]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
  return 1
end
return 0
)lua";

/// Renews the leases of running slots this process holds. ARGV: lease ms, then pairs of running
/// key, holder. A slot already freed is not taken again.
inline constexpr const char* renew_slots_script = JOBQ_LUA_NOW R"lua(
local lease = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  redis.call('ZADD', ARGV[i], 'XX', now + lease, ARGV[i + 1])
  redis.call('PEXPIRE', ARGV[i], lease * 2)
end
return 0
)lua";

/// Batches: <base>:batch:<id> holds total, succeeded, dead, revoked, cancelled, done and the
/// callbacks; <base>:batch:<id>:finished the ids of the jobs counted, so that each is counted once
/// however often it runs.
#define JOBQ_LUA_BATCH_ENDING \
  "local function ending(hash, finished) " \
  "  local f = redis.call('HGETALL', hash) local h = {} " \
  "  for i = 1, #f, 2 do h[f[i]] = f[i + 1] end " \
  "  local counted = tonumber(h.succeeded or '0') + tonumber(h.dead or '0') + tonumber(h.revoked or '0') " \
  "  if counted >= tonumber(h.total or '0') and redis.call('HSETNX', hash, 'done', '1') == 1 then " \
  "    redis.call('PEXPIRE', hash, 86400000) redis.call('PEXPIRE', finished, 86400000) " \
  "    return {2, h.total, h.succeeded, h.dead, h.revoked, h.cancelled or '0', h.on_complete or '', h.on_success or ''} " \
  "  end " \
  "  return {1} " \
  "end "

/// KEYS: batch hash. ARGV: total, on_complete, on_success.
inline constexpr const char* open_batch_script = R"lua(
redis.call('HSET', KEYS[1], 'total', ARGV[1], 'succeeded', '0', 'dead', '0', 'revoked', '0', 'cancelled', '0',
  'on_complete', ARGV[2], 'on_success', ARGV[3])
return 1
)lua";

/// KEYS: batch hash, finished set. ARGV: job id, 'succeeded', 'dead' or 'revoked'. {0} when the
/// batch is unknown or the job was counted already, {1} when counted, {2, counts..., callbacks}
/// when it was the last.
inline constexpr const char* finish_in_batch_script = JOBQ_LUA_BATCH_ENDING R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'done') == 1 then return {0} end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return {0} end
redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
return ending(KEYS[1], KEYS[2])
)lua";

/// KEYS: batch hash, finished set. ARGV: total. Cancels the batch and sets its total.
inline constexpr const char* shrink_batch_script = JOBQ_LUA_BATCH_ENDING R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
redis.call('HSET', KEYS[1], 'total', ARGV[1], 'cancelled', '1')
return ending(KEYS[1], KEYS[2])
)lua";

/// KEYS: batch hash. 1 when cancelled, 0 for an unknown batch.
inline constexpr const char* cancel_batch_script = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'cancelled', '1')
return 1
)lua";

/// Releases keys held until their jobs started. ARGV: pairs of key, id; a key is deleted only if
/// it still names that job.
inline constexpr const char* unlock_script = R"lua(
for i = 1, #ARGV, 2 do
  if redis.call('GET', ARGV[i]) == ARGV[i + 1] then redis.call('DEL', ARGV[i]) end
end
return 0
)lua";

/// KEYS: stream, ids. ARGV: triples of type, payload, headers ('' for none). Stores all; returns
/// the first id.
inline constexpr const char* append_bulk_script = JOBQ_LUA_NOW JOBQ_LUA_XADD R"lua(
local n = #ARGV / 3
local last = redis.call('INCRBY', KEYS[2], n)
local first = last - n + 1
local at = string.format('%d', now)
for i = 1, n do
  xadd(KEYS[1], string.format('%d', first + i - 1), ARGV[3 * i - 2], ARGV[3 * i - 1], '1', '0', '0', '', at, ARGV[3 * i])
end
return first
)lua";

/// KEYS: stream. ARGV: group, key TTL ms (-1: forever), consumer, then per job: entry, key name
/// ('' none), id, 'k' (keep the key for the TTL: success) or 'r' (release it: revoke). Only
/// entries still pending for this consumer are acknowledged. Returns how many were.
inline constexpr const char* ack_script = JOBQ_LUA_MINE R"lua(
local acked = 0
local plain = {}
for i = 4, #ARGV, 4 do
  local k = ARGV[i + 1]
  if k == '' then
    plain[#plain + 1] = ARGV[i]
  elseif mine(KEYS[1], ARGV[1], ARGV[3], ARGV[i]) then
    redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
    acked = acked + 1
    if redis.call('GET', k) == ARGV[i + 2] then
      if ARGV[i + 3] == 'r' then redis.call('DEL', k)
      elseif tonumber(ARGV[2]) < 0 then redis.call('PERSIST', k)
      else redis.call('PEXPIRE', k, ARGV[2]) end
    end
  end
end
-- Jobs without a key: this consumer's pending entries (at most its prefetch) in one call, then
-- one XACK for those of the batch among them (at most 512, within unpack's limit).
if #plain > 0 then
  local held = {}
  for _, e in ipairs(redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 100000, ARGV[3])) do held[e[1]] = true end
  local ours = {}
  for _, id in ipairs(plain) do if held[id] then ours[#ours + 1] = id end end
  if #ours > 0 then acked = acked + redis.call('XACK', KEYS[1], ARGV[1], unpack(ours)) end
end
return acked
)lua";

/// A retry or a snooze. KEYS: stream, scheduled. ARGV: group, entry, delay ms (-1 forever), id,
/// type, payload, attempt, max, timeout, key, consumer, headers, flow. 0 when the entry is no
/// longer this process's.
inline constexpr const char* later_script = JOBQ_LUA_NOW JOBQ_LUA_MINE R"lua(
if not mine(KEYS[1], ARGV[1], ARGV[11], ARGV[2]) then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
local delay = tonumber(ARGV[3])
local due = '+inf'
if delay >= 0 then due = now + delay end
redis.call('ZADD', KEYS[2], due, cjson.encode({id = ARGV[4], type = ARGV[5], payload = ARGV[6], attempt = ARGV[7],
  max = ARGV[8], timeout = ARGV[9], key = ARGV[10], at = string.format('%d', now), headers = ARGV[12], flow = ARGV[13]}))
return 1
)lua";

/// KEYS: stream, dead, the letter's hash, key ('' none). ARGV: group, entry, id, type, queue,
/// payload, attempts, error, reason, when ms, max, timeout, capacity, letter hash prefix,
/// consumer, headers ('' for none), flow ('' for none). 0 when the entry is no longer this
/// process's.
inline constexpr const char* dead_script = JOBQ_LUA_MINE R"lua(
if not mine(KEYS[1], ARGV[1], ARGV[15], ARGV[2]) then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], 'id', ARGV[3], 'type', ARGV[4], 'queue', ARGV[5], 'payload', ARGV[6],
  'attempts', ARGV[7], 'error', ARGV[8], 'reason', ARGV[9], 'when', ARGV[10], 'max', ARGV[11], 'timeout', ARGV[12])
if ARGV[16] ~= '' then redis.call('HSET', KEYS[3], 'headers', ARGV[16]) end
if ARGV[17] ~= '' then redis.call('HSET', KEYS[3], 'flow', ARGV[17]) end
redis.call('ZADD', KEYS[2], ARGV[10], ARGV[3])
if KEYS[4] ~= '' and redis.call('GET', KEYS[4]) == ARGV[3] then redis.call('DEL', KEYS[4]) end
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[13])
if over > 0 then
  for _, old in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do redis.call('DEL', ARGV[14] .. old) end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
end
return 1
)lua";

/// A job not run here goes back on the stream. KEYS: stream. ARGV: group, entry, id, type,
/// payload, attempt, max, timeout, key, consumer, headers, hold, flow. 0 when the entry is no
/// longer this process's.
inline constexpr const char* give_back_script = JOBQ_LUA_NOW JOBQ_LUA_XADD JOBQ_LUA_MINE R"lua(
if not mine(KEYS[1], ARGV[1], ARGV[10], ARGV[2]) then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
xadd(KEYS[1], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], string.format('%d', now), ARGV[11],
  ARGV[12], ARGV[13])
return 1
)lua";

/// Moves due jobs from the scheduled set onto the stream, each exactly once whoever runs it.
/// KEYS: stream, scheduled. ARGV: the most to move. Returns how many moved.
inline constexpr const char* promote_script = JOBQ_LUA_NOW JOBQ_LUA_XADD R"lua(
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[2], member)
  local ok, job = pcall(cjson.decode, member)
  if ok and type(job) == 'table' then
    local function s(v, default) if v == nil then return default end return tostring(v) end
    xadd(KEYS[1], s(job.id, ''), s(job.type, ''), s(job.payload, ''), s(job.attempt, '1'), s(job.max, '0'),
      s(job.timeout, '0'), s(job.key, ''), s(job.at, string.format('%d', now)), s(job.headers, ''), s(job.hold, ''),
      s(job.flow, ''))
  else
    redis.call('XADD', KEYS[1], '*', 'malformed', member)
  end
end
return #due
)lua";

/// Claims jobs of dead processes: idle (unrenewed) past the lease. KEYS: stream. ARGV: group,
/// consumer, lease ms, start id, count. Returns {next start, {{entry, fields, deliveries}...}}.
inline constexpr const char* reclaim_script = R"lua(
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local out = {}
for _, e in ipairs(r[2]) do
  if e and e[1] then
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
    local deliveries = 1
    if p[1] then deliveries = p[1][4] end
    out[#out + 1] = {e[1], e[2], deliveries}
  end
end
return {r[1], out}
)lua";

/// Renews the leases of jobs this process still holds (resets their idle time without counting
/// a delivery); never takes a job another process has claimed. KEYS: stream. ARGV: group,
/// consumer, entries. Returns the entries that are no longer this process's.
inline constexpr const char* renew_script = R"lua(
local lost = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
)lua";

/// A dead letter back on the stream as attempt 1. KEYS: stream, dead, the letter's hash. ARGV: id.
inline constexpr const char* requeue_script = JOBQ_LUA_NOW JOBQ_LUA_XADD R"lua(
local f = redis.call('HGETALL', KEYS[3])
if #f == 0 then return 0 end
local h = {}
for i = 1, #f, 2 do h[f[i]] = f[i + 1] end
xadd(KEYS[1], h.id or ARGV[1], h.type or '', h.payload or '', '1', h.max or '0', h.timeout or '0', '', string.format('%d', now),
  h.headers or '', '', h.flow or '')
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
)lua";

/// Trims the stream below its oldest entry that is still pending or not yet delivered: what is
/// below is settled. KEYS: stream. ARGV: group. Returns how many entries went.
inline constexpr const char* trim_script = R"lua(
local last
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local h = {}
  for i = 1, #g, 2 do h[g[i]] = g[i + 1] end
  if h['name'] == ARGV[1] then last = h['last-delivered-id'] end
end
if not last then return 0 end
local summary = redis.call('XPENDING', KEYS[1], ARGV[1])
local floor
if summary[1] > 0 then
  floor = summary[2]
else
  local ms, seq = string.match(last, '^(%d+)-(%d+)$')
  if not ms then return 0 end
  floor = ms .. '-' .. tostring(tonumber(seq) + 1)
end
return redis.call('XTRIM', KEYS[1], 'MINID', floor)
)lua";

#undef JOBQ_LUA_NOW
#undef JOBQ_LUA_XADD
#undef JOBQ_LUA_MINE
#undef JOBQ_LUA_BATCH_ENDING

}  // namespace jobq::redis::detail
