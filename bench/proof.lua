-- wrk script: GET /data-events/:id/proof for events picked at random.
--
--   wrk -s bench/proof.lua URL -- TOKEN IDS_FILE
--
-- IDS_FILE holds one event id a line (bench.py writes it from positions
-- drawn at random over the whole log); each request takes one at random,
-- so the proofs walk the whole tree, not a cached corner of it.

local next_thread = 0

function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

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
  math.randomseed(os.time() + 7919 * thread_index)
  headers = {["Authorization"] = "Bearer " .. token}
end

function request()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/data-events/" .. id .. "/proof", headers)
end
