-- Token buckets, one per KEY, stepped atomically: the arithmetic of bucket.rs, line for line.
-- The clock is the Redis server's TIME, so every gateway instance sees the same time.
--
-- ARGV holds 4 values per key: quota, window seconds, mode, amount. Modes:
--   t  take `amount` if the level covers it (only if every bucket of the call allows)
--   p  allow if anything is left; take nothing
--   d  subtract `amount` unconditionally (may go below zero)
-- A bucket is a hash {l = level, t = microseconds of the last update}; a missing key is a full
-- bucket, so a bucket that is full again is deleted, and every key expires when it would be
-- full (at most the window, or later while it is in debt).
-- Returns {allowed, level_1, admitted_1, level_2, admitted_2, ...}, all as strings (a Lua
-- number in a reply would be truncated to an integer).
local eps = 1e-9
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local n = #KEYS
local levels, admitted = {}, {}
local allowed = true
for i = 1, n do
  local a = (i - 1) * 4
  local quota = tonumber(ARGV[a + 1])
  local w = tonumber(ARGV[a + 2])
  local mode = ARGV[a + 3]
  local amount = tonumber(ARGV[a + 4])
  local level = quota
  local s = redis.call('HMGET', KEYS[i], 'l', 't')
  if s[1] and s[2] then
    level = tonumber(s[1])
    local last = tonumber(s[2])
    if now > last then
      level = level + (now - last) * quota / (w * 1000000)
    end
    if level > quota then
      level = quota
    end
  end
  local ok = true
  if mode == 't' then
    ok = level + eps >= amount
  elseif mode == 'p' then
    ok = level > eps
  end
  if not ok then
    allowed = false
  end
  levels[i] = level
  admitted[i] = ok
end
local out = { allowed and '1' or '0' }
for i = 1, n do
  local a = (i - 1) * 4
  local quota = tonumber(ARGV[a + 1])
  local w = tonumber(ARGV[a + 2])
  local mode = ARGV[a + 3]
  local level = levels[i]
  if mode == 'd' or (mode == 't' and allowed) then
    level = level - tonumber(ARGV[a + 4])
  end
  if level + eps >= quota then
    redis.call('DEL', KEYS[i])
  else
    redis.call('HSET', KEYS[i], 'l', string.format('%.17g', level), 't', string.format('%d', now))
    local ms = math.ceil((quota - level) * w * 1000 / quota)
    redis.call('PEXPIRE', KEYS[i], ms + 1000)
  end
  out[#out + 1] = string.format('%.17g', level)
  out[#out + 1] = admitted[i] and '1' or '0'
end
return out
