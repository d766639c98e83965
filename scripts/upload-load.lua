-- wrk script: PUT /api/v1/images/<prefix>-<thread>-<n>, every request a new
-- key, the same body (a JPEG file) each time, with an API key.
--
--   wrk -t2 -c8 -d5s --latency -s scripts/upload-load.lua http://127.0.0.1:8080 \
--       -- FILE.jpg API_KEY PREFIX
--
-- PREFIX must differ between runs against one server (the keys would
-- replace the last run's images otherwise). scripts/bench-uploads.sh runs
-- it against main's binary and this one, beside a disk baseline.
local threads = 0

function setup(thread)
	thread:set("tid", threads)
	threads = threads + 1
end

function init(args)
	local f = assert(io.open(args[1], "rb"))
	body = f:read("*a")
	f:close()
	headers = { ["Authorization"] = "Bearer " .. args[2], ["Content-Type"] = "image/jpeg" }
	prefix = args[3] or tostring(os.time())
	n = 0
end

function request()
	n = n + 1
	return wrk.format("PUT", "/api/v1/images/" .. prefix .. "-" .. tid .. "-" .. n, headers, body)
end
