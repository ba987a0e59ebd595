-- wrk script: the same request as without a script (wrk's URL and -H
-- headers), each connection waiting DELAY_MS between its requests, so the
-- load is a steady rate (about connections * 1000 / (DELAY_MS + latency)
-- per second) instead of as fast as the server answers.
--
--   wrk -s bench/steady.lua -H "Authorization: Bearer T" URL -- DELAY_MS
--
-- The cost benchmark compares CPU per request with and without auditing at
-- one rate: at full speed the two modes run at different rates, and CPU per
-- request depends on the rate (how many requests share each wake-up).

local pause = 6

function init(args)
  if args[1] then
    pause = tonumber(args[1])
  end
end

function delay()
  return pause
end
