-- wrk script: GET /api/users/:id/state?at=T at instants drawn at random.
--
--   wrk -s bench/state.lua URL -- TOKEN ID FROM_MS TO_MS
--
-- Each request asks the state of users:ID at an instant drawn uniformly in
-- [FROM_MS, TO_MS), so the answers come from all over the target's history.

function init(args)
  local token = args[1]
  target, from, to = args[2], tonumber(args[3]), tonumber(args[4])
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 1000003)
  headers = {["Authorization"] = "Bearer " .. token}
end

function request()
  local at = from + math.random(0, to - from - 1)
  return wrk.format("GET", "/api/users/" .. target .. "/state?at=" .. string.format("%d", at),
                    headers)
end
