// The page is plain HTML, CSS and script with no library: its charts are SVG drawn by a few
// lines of script (console_script.inc), which is smaller than any charting library and needs no
// package. Everything the page shows comes from /api; every text from there is escaped.
#include "console/page.hpp"

namespace jobq::console {

std::string_view page_html() {
  return R"page(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>jobq console</title>
<link rel="stylesheet" href="console.css">
<script src="console.js" defer></script>
</head>
<body>
<header>
  <h1>jobq</h1>
  <nav>
    <a href="#queues" data-nav="queues">Queues</a>
    <a href="#types" data-nav="types">Job types</a>
    <a href="#running" data-nav="running">Running</a>
    <a href="#schedules" data-nav="schedules">Schedules</a>
    <a href="#dead" data-nav="dead">Dead letters</a>
  </nav>
  <form id="token-form" autocomplete="off">
    <label for="token">Token</label>
    <input id="token" type="password" placeholder="for actions" size="20">
    <button type="submit" id="token-save">Save</button>
  </form>
  <span id="uptime"></span>
</header>
<div id="status" role="status"></div>
<main id="view"></main>
</body>
</html>
)page";
}

std::string_view page_style() {
  return R"page(:root { --fg: #1d2430; --muted: #677489; --line: #dde3ea; --bg: #f7f9fb; --accent: #2457c5; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 24px; align-items: center; padding: 10px 20px; background: #fff; border-bottom: 1px solid var(--line); }
h1 { font-size: 18px; margin: 0; }
h2 { font-size: 16px; margin: 20px 0 8px; }
nav a { margin-right: 14px; color: var(--muted); text-decoration: none; }
nav a.active { color: var(--accent); font-weight: 600; }
#token-form { margin-left: auto; display: flex; gap: 6px; align-items: center; }
#uptime { color: var(--muted); }
main { padding: 0 20px 40px; }
#status { min-height: 22px; padding: 4px 20px; }
#status.ok { color: #1a7f37; } #status.error { color: #c62828; }
table { border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
th, td { padding: 5px 7px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { color: var(--muted); font-weight: 500; background: #fbfcfd; }
td:first-child, th:first-child, td.text, th.text { text-align: left; }
td.wrap { white-space: normal; max-width: 420px; overflow-wrap: anywhere; text-align: left; }
.badge { font-size: 11px; padding: 1px 6px; border-radius: 8px; background: #e8eefc; color: var(--accent); margin-left: 4px; }
.badge.paused { background: #fdecea; color: #c62828; }
button { font: inherit; padding: 2px 10px; border: 1px solid var(--line); border-radius: 4px; background: #fff; cursor: pointer; }
button:hover { border-color: var(--accent); }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; background: #fff; border: 1px solid var(--line); padding: 8px 10px; }
figcaption { font-weight: 600; margin-bottom: 4px; }
.legend { display: flex; gap: 14px; color: var(--muted); font-size: 12px; margin-top: 4px; }
.legend .c0 { background: #2457c5; } .legend .c1 { background: #1a7f37; } .legend .c2 { background: #c62828; } .legend .c3 { background: #8e44ad; }
.legend i { display: inline-block; width: 12px; height: 3px; margin-right: 4px; vertical-align: middle; }
svg text { fill: var(--muted); font-size: 10px; }
pre { background: #fff; border: 1px solid var(--line); padding: 10px; overflow: auto; max-width: 900px; }
dl { display: grid; grid-template-columns: max-content auto; gap: 4px 16px; }
dt { color: var(--muted); }
.empty { color: var(--muted); padding: 8px 0; }
)page";
}

std::string_view page_script() {
  return
#include "console/console_script.inc"
      ;
}

}  // namespace jobq::console
