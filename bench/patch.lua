-- wrk script: PATCH /api/users/:id toggling agreedTos, as JSON:API.
--
--   wrk -s bench/patch.lua URL -- TOKEN IDS THREADS [DELAY_MS]
--
-- IDS is a comma-separated list of user ids. With one id every connection
-- PATCHes that user (all contend for one row lock, the reference's case).
-- With several, each wrk thread takes its own share of the ids and rotates
-- through them request by request, so with as many ids as connections two
-- requests rarely touch the same row at once. Each request sends the
-- opposite of what this thread last sent for that id, so (on the spread
-- ids) every PATCH changes a stored value: a transaction with its outbox
-- row. The ids start with agreedTos false, so the first value is true.
-- With DELAY_MS, each connection waits that long between its requests (a
-- steady rate, as bench/steady.lua).

local next_thread = 0

function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  local token, idlist, nthreads = args[1], args[2], tonumber(args[3] or "1")
  -- wrk asks whether the script has a delay() after init: defined only
  -- when asked for, so the default load is as fast as before.
  local pause = tonumber(args[4] or "0")
  if pause > 0 then
    delay = function() return pause end
  end
  local all = {}
  for id in string.gmatch(idlist, "[^,]+") do
    all[#all + 1] = id
  end
  ids = {}
  for i, id in ipairs(all) do
    if (i - 1) % nthreads == thread_index then
      ids[#ids + 1] = id
    end
  end
  if #ids == 0 then
    ids = all
  end
  last = {}
  pos = 0
  headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/vnd.api+json",
    ["Accept"] = "application/vnd.api+json",
  }
end

function request()
  pos = pos % #ids + 1
  local id = ids[pos]
  local value = not last[id]
  last[id] = value
  local body = string.format(
    '{"data":{"type":"users","id":"%s","attributes":{"agreedTos":%s}}}', id, tostring(value))
  return wrk.format("PATCH", "/api/users/" .. id, headers, body)
end
