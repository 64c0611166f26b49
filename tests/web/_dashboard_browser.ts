/**
 * The dashboard in a real Chromium (Debian's, driven by playwright-core) against a real
 * daemon: a wrong token is refused, the right one logs in, a ping appears live, a ban made
 * in the page is listed, a POST without the CSRF token is refused, a pending enrollment is
 * approved with the page's button (the enroll CLI then finishes) and revoked, this node's
 * heartbeat is listed under cluster nodes. Takes the screenshot
 * the README shows (docs/img/dashboard.png, rewritten with SIGLATCH_UPDATE_SCREENSHOTS=1).
 *
 * Run by `dashboard_browser_test.ts` as `deno test -A`: playwright-core probes
 * /proc/sys/fs/binfmt_misc when it loads, which Deno allows only with --allow-all.
 * @module
 */
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { aliceRequest, makeFixture, ROOT, spawnCli, startDaemon } from "../_helpers/daemon.ts";
import { createApprovalInvite } from "../_helpers/invite.ts";
import { skipWithout } from "../_helpers/system.ts";
import { freeTcpPort, writeToken } from "./_web.ts";

const CHROMIUM = "/usr/bin/chromium";

Deno.test({
  name: "dashboard in Chromium: wrong token refused, log in, a ping appears live, a ban is listed",
  ignore: skipWithout("chromium", "chromium"),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const webPort = freeTcpPort();
    const fx = await makeFixture({
      top: {
        admin: {
          socket: "run/admin.sock",
          web_listen: `127.0.0.1:${webPort}`,
          token_file: "web.token",
        },
        messages: [{ level: "notice", text: "maintenance on Sunday" }],
      },
    });
    const token = await writeToken(fx.dir);
    const d = await startDaemon(fx.config);
    const profile = await Deno.makeTempDir({ prefix: "siglatch-chromium-" });
    const ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    const base = `http://127.0.0.1:${webPort}`;
    try {
      const page = await ctx.newPage();
      // A wrong token: refused, still on the login page, no session.
      await page.goto(`${base}/`);
      assert.equal(new URL(page.url()).pathname, "/login");
      await page.fill("#token", "not-the-token-at-all");
      await page.click("#login");
      await page.waitForSelector("#login-error");
      assert.equal(await page.textContent("#login-error"), "Wrong token.");
      const refused = await page.evaluate(() => fetch("/api/state").then((r) => r.status));
      assert.equal(refused, 401);

      // The right token: the dashboard, with its live stream open.
      await page.fill("#token", token);
      await page.click("#login");
      await page.waitForSelector("body[data-ready='1'][data-live='1']");
      assert.equal(new URL(page.url()).pathname, "/");
      const cookies = await ctx.cookies(base);
      const session = cookies.find((c) => c.name === "siglatch_session");
      assert.ok(session, "session cookie set");
      assert.equal(session.httpOnly, true);
      assert.equal(session.sameSite, "Strict");
      assert.match(await page.textContent("#users") ?? "", /alice/);
      assert.match(await page.textContent("#messages") ?? "", /maintenance on Sunday/);

      // A ping appears live (SSE), without a reload of the page.
      const res = await aliceRequest(fx, 1, "", { retries: 2 });
      assert.equal(res.status, 0);
      const row = await page.waitForSelector("#decisions tr.accepted");
      assert.match(await row.textContent() ?? "", /alice.*ping.*127\.0\.0\.1/);

      // Ban a source in the page; it is listed.
      await page.fill("#ban-addr", "192.0.2.77");
      await page.fill("#ban-for", "10m");
      await page.click("#ban");
      await page.waitForSelector("#bans td:text-is('192.0.2.77')");
      assert.match(await page.textContent("#notice") ?? "", /banned 192\.0\.2\.77/);

      // A POST without the session's CSRF token is refused, even with the cookie.
      const forged = await page.evaluate(() =>
        fetch("/api/command", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ cmd: "unban", args: { addr: "192.0.2.77" } }),
        }).then((r) => r.status)
      );
      assert.equal(forged, 403);
      assert.match(await page.textContent("#bans") ?? "", /192\.0\.2\.77/);

      // Enrollment with approval through the page: the enroll CLI waits (pending), the
      // Approve button lets it finish; the enrolled user is listed and revoked from the page.
      const { invite, id } = await createApprovalInvite(fx.config, "guest9", ["--expires", "10m"]);
      const enrolling = spawnCli([
        "enroll",
        invite,
        "--out",
        `${fx.dir}/guest9.yaml`,
        "--poll",
        "200ms",
        "--wait",
        "60s",
      ]);
      const enrolled = enrolling.output();
      const pending =
        `#enrollments tr:has(td:text-is('invite (pending)')):has(td:text-is('guest9'))`;
      await page.waitForSelector(pending);
      await assert.rejects(Deno.stat(`${fx.dir}/guest9.yaml`), Deno.errors.NotFound);
      await page.click(`${pending} button:text-is('approve')`);
      const res9 = await enrolled;
      const err9 = new TextDecoder().decode(res9.stderr);
      assert.equal(res9.code, 0, err9);
      assert.match(err9, new RegExp(`pending: .*approve ${id}`));
      assert.match(new TextDecoder().decode(res9.stdout), /enrolled as guest9/);
      assert.match(await page.textContent("#notice") ?? "", new RegExp(`approved invite ${id}`));
      const row9 = `#enrollments tr:has(td:text-is('enrolled')):has(td:text-is('guest9'))`;
      await page.waitForSelector(row9);
      // This node's heartbeat is listed under cluster nodes.
      assert.match(await page.textContent("#nodes") ?? "", /\(this\)/);
      await page.click(`${row9} button:text-is('revoke')`);
      await page.waitForSelector(`#enrollments td:text-is('none')`);
      assert.match(await page.textContent("#notice") ?? "", /revoked guest9/);

      await page.waitForTimeout(2500); // one more refresh: the rate chart has two points
      // The README's screenshot: rewritten with SIGLATCH_UPDATE_SCREENSHOTS=1, else taken
      // and checked only (a test run leaves the work tree as it was).
      const shot = await page.screenshot({ fullPage: true });
      assert.deepEqual([...shot.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG");
      if (Deno.env.get("SIGLATCH_UPDATE_SCREENSHOTS") === "1") {
        await Deno.writeFile(`${ROOT}/docs/img/dashboard.png`, shot);
      }
    } finally {
      await ctx.close();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      await d.stop();
      await fx.cleanup();
    }
  },
});
