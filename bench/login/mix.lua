-- wrk script for bench/login/load.sh: a site's traffic with some failed
-- logins in it. Each request is, at random, with probability LOGIN_PCT/100
-- (first script argument, default 5) a POST /login with a wrong password for
-- one of 100000 usernames, else a GET of one of a few page shapes. Every
-- answer of the bench upstream is 200 (the login one says "Invalid username
-- or password", which mamori's login route counts as a failure).
local login_share = 0.05
local pages = { "/", "/products", "/products/%d", "/static/app-%d.css", "/search?q=item%d",
                "/cart", "/account/orders/%d", "/blog/%d" }
local get_headers = { ["Accept"] = "text/html", ["User-Agent"] = "wrk-mix" }
local post_headers = { ["Content-Type"] = "application/x-www-form-urlencoded",
                       ["User-Agent"] = "wrk-mix" }

function init(args)
  if args[1] then
    local pct = tonumber(args[1])
    if pct == nil or pct < 0 or pct > 100 then
      error("mix.lua: the argument is the login share in percent (0..100), got " .. args[1])
    end
    login_share = pct / 100
  end
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  if math.random() < login_share then
    local body = string.format("username=user%d&password=wrong-%d",
                               math.random(1, 100000), math.random(1, 1e9))
    return wrk.format("POST", "/login", post_headers, body)
  end
  local page = pages[math.random(1, #pages)]
  return wrk.format("GET", string.format(page, math.random(1, 5000)), get_headers)
end
