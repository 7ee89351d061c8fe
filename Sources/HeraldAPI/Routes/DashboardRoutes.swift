import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// `GET /`: the dashboard. One page, no build step and nothing fetched from elsewhere: it asks for
/// an API key with the read scope (kept in the tab's session storage only), then shows what
/// `GET /api/v1/stats` and `GET /api/v1/messages` answer, refreshed every 5 seconds, and a
/// message's whole story when its row is clicked. Everything shown is set as text, never as HTML,
/// and the Content-Security-Policy allows only this page's own script and style (by hash) and
/// requests to this server. The API is asked by a relative path, so the page also works behind a
/// proxy that serves Herald under a prefix (`https://example.com/herald/`).
struct DashboardRoutes {
    func register(_ router: Router<HeraldRequestContext>) {
        router.get("/") { _, _ in
            Response(status: .ok, headers: Self.headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: Self.page)))
        }
    }

    static let headers: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        .contentSecurityPolicy:
            "default-src 'none'; script-src '\(hash(script))'; style-src '\(hash(style))'; connect-src 'self'; "
            + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        .xContentTypeOptions: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
        .cacheControl: "no-store",
    ]

    /// A CSP source for an inline element's exact text.
    static func hash(_ text: String) -> String {
        "sha256-" + Data(SHA256.hash(data: Data(text.utf8))).base64EncodedString()
    }

    static let page = Array(
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Herald</title>
        <style>\(style)</style>
        </head>
        <body>
        <h1>Herald</h1>
        <form id="login">
        <label>API key (read scope) <input id="key" type="password" autocomplete="off" size="48"></label>
        <button>Show</button> <span id="error" class="bad"></span>
        </form>
        <div id="main" class="hidden">
        <p>Queue depth <b id="depth"></b> · refreshed <span id="refreshed"></span> · <a href="#" id="forget">forget the key</a></p>
        <h2>Delivery</h2>
        <table id="windows"><thead><tr><th>window</th><th>success rate</th><th>success</th><th>failed</th><th>pending</th>
        <th>scheduled</th><th>sending</th><th>retrying</th><th>cancelled</th><th>error classes</th></tr></thead><tbody></tbody></table>
        <h2>Accounts</h2>
        <table id="accounts"><thead><tr><th>id</th><th>name</th><th>active</th><th>health</th><th>failures</th><th>last error</th>
        <th>sent 24 h</th><th>failed 24 h</th><th>quota minute / day</th></tr></thead><tbody></tbody></table>
        <h2>Messages</h2>
        <label>status <select id="status"><option value="">any</option><option>pending</option><option>scheduled</option>
        <option>sending</option><option>retrying</option><option>success</option><option>failed</option><option>cancelled</option>
        </select></label>
        <table id="messages"><thead><tr><th>id</th><th>status</th><th>to</th><th>subject</th><th>attempts</th><th>error</th>
        <th>created</th></tr></thead><tbody></tbody></table>
        <div id="detail"></div>
        </div>
        <script>\(script)</script>
        </body>
        </html>

        """.utf8)

    static let style = """
        body { font: 14px system-ui, sans-serif; margin: 1.5rem; color: #222; }
        table { border-collapse: collapse; width: 100%; margin: .5rem 0 1.5rem; }
        th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #ddd; vertical-align: top; }
        #messages tbody tr { cursor: pointer; }
        #messages tbody tr:hover { background: #f3f3f3; }
        pre { white-space: pre-wrap; background: #f6f6f6; padding: .75rem; }
        .bad { color: #b00020; }
        .hidden { display: none; }
        """

    static let script = """
        const $ = (id) => document.getElementById(id);
        let key = sessionStorage.getItem("herald.key") || "";

        async function api(path) {
          const answer = await fetch("api/v1" + path, { headers: { Authorization: "Bearer " + key } });
          const body = await answer.json();
          if (body.code !== 0) throw new Error(body.message);
          return body.data;
        }

        function rows(table) {
          const body = $(table).tBodies[0];
          body.replaceChildren();
          return body;
        }

        function row(body, cells) {
          const tr = document.createElement("tr");
          for (const cell of cells) {
            const td = document.createElement("td");
            td.textContent = cell === null || cell === undefined ? "" : String(cell);
            tr.appendChild(td);
          }
          body.appendChild(tr);
          return tr;
        }

        function showing(signedIn) {
          $("login").classList.toggle("hidden", signedIn);
          $("main").classList.toggle("hidden", !signedIn);
        }

        async function refresh() {
          try {
            const stats = await api("/stats");
            $("depth").textContent = stats.queue_depth;
            const windows = rows("windows");
            for (const name of ["1h", "24h", "7d"]) {
              const window = stats.windows[name];
              const counts = window.counts_by_status;
              const rate = window.success_rate === null || window.success_rate === undefined
                ? "-" : (window.success_rate * 100).toFixed(1) + " %";
              const classes = Object.entries(window.error_classes).map(([name, count]) => name + ": " + count).join(", ");
              row(windows, [name, rate, counts.success, counts.failed, counts.pending, counts.scheduled, counts.sending,
                counts.retrying, counts.cancelled, classes]);
            }
            const accounts = rows("accounts");
            for (const account of stats.accounts) {
              const tr = row(accounts, [account.id, account.name, account.is_active ? "yes" : "no", account.health,
                account.failure_count, account.last_error_code, account.succeeded_24h, account.failed_24h,
                account.quota.minute + " / " + account.quota.day]);
              if (account.health !== "closed" || !account.is_active) tr.className = "bad";
            }
            const status = $("status").value;
            const page = await api("/messages?limit=50" + (status ? "&status=" + encodeURIComponent(status) : ""));
            const messages = rows("messages");
            for (const message of page.messages) {
              const error = message.error_code ? message.error_code + ": " + (message.error_message || "") : "";
              const tr = row(messages, [message.id, message.status, message.to.join(", "), message.subject,
                message.retry_count + " of " + message.max_attempts, error, message.created_at]);
              if (message.status === "failed") tr.className = "bad";
              tr.addEventListener("click", () => show(message.id));
            }
            $("refreshed").textContent = new Date().toLocaleTimeString();
            $("error").textContent = "";
            showing(true);
          } catch (error) {
            $("error").textContent = error.message;
            showing(false);
          }
        }

        async function show(id) {
          const heading = document.createElement("h2");
          heading.textContent = "Message " + id;
          const text = document.createElement("pre");
          try {
            text.textContent = JSON.stringify(await api("/messages/" + id), null, 2);
          } catch (error) {
            text.textContent = error.message;
          }
          $("detail").replaceChildren(heading, text);
        }

        $("login").addEventListener("submit", (event) => {
          event.preventDefault();
          key = $("key").value.trim();
          sessionStorage.setItem("herald.key", key);
          refresh();
        });
        $("forget").addEventListener("click", (event) => {
          event.preventDefault();
          key = "";
          sessionStorage.removeItem("herald.key");
          showing(false);
        });
        $("status").addEventListener("change", refresh);
        if (key) refresh();
        setInterval(() => { if (key && !$("main").classList.contains("hidden")) refresh(); }, 5000);
        """
}
