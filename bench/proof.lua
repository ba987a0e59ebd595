-- wrk script: GET /data-events/:id/proof for events picked at random.
--
--   wrk -s bench/proof.lua URL -- TOKEN IDS_FILE
--
-- IDS_FILE holds one event id a line (bench.py writes it from positions
-- drawn at random over the whole log); each request takes one at random,
-- so the proofs walk the whole tree, not a cached corner of it.

function init(args)
  local token, path = args[1], args[2]
  ids = {}
  for line in io.lines(path) do
    if #line > 0 then
      ids[#ids + 1] = line
    end
  end
  if #ids == 0 then
    error("no event ids in " .. path)
  end
  -- Each wrk thread has a Lua state of its own: a fresh table's address
  -- tells them apart, so they draw different events.
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 1000003)
  headers = {["Authorization"] = "Bearer " .. token}
end

function request()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/data-events/" .. id .. "/proof", headers)
end
