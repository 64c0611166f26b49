/**
 * The x86_64 .deb installed for real into a clean Debian root (debootstrap minbase bookworm,
 * the release workflow's debian:12; no Deno, npm or node in it) by `dpkg -i` under chroot,
 * so its postinst runs there and never on the host; then, inside a network namespace with only
 * loopback: the user and directories exist, `siglatch --version` and `check` of the shipped
 * example run, the loopback demo answers a real ping with its network part as the package's
 * user (and the command the demo prints to try works as printed), and `dpkg -r` leaves no
 * /usr/lib/siglatch behind (prerm clears Deno's own caches).
 *
 * The chroot's /proc is mounted inside the mount namespace `ip netns exec` makes, so it goes
 * away with the command; nothing is mounted on the host. The clean root is kept as a tar in
 * ~/.cache/siglatch-release after the first debootstrap (which needs the Debian mirror).
 * @module
 */
import assert from "node:assert/strict";
import { buildRelease } from "../../src/release/package.ts";
import { defaultRuntimeCache } from "../../src/release/runtime.ts";
import { VERSION } from "../../src/version.ts";
import { skipUnlessRoot, skipWithout } from "../_helpers/system.ts";
import { runBounded, withNs } from "../_helpers/netns.ts";

const SUITE = "bookworm";

/** Fills `root` with a clean Debian minbase system (from the cached tar, else debootstrap). */
async function cleanDebianRoot(root: string): Promise<void> {
  const cache = defaultRuntimeCache();
  const tar = `${cache}/debian-${SUITE}-minbase.tar`;
  await Deno.mkdir(root, { recursive: true });
  try {
    await Deno.stat(tar);
  } catch {
    const boot = await runBounded([
      "debootstrap",
      "--variant=minbase",
      SUITE,
      root,
      "http://deb.debian.org/debian",
    ], { timeoutMs: 600_000 });
    assert.equal(boot.code, 0, `debootstrap: ${boot.stdout.slice(-2000)}${boot.stderr}`);
    await Deno.mkdir(cache, { recursive: true });
    const part = `${tar}.${crypto.randomUUID()}.part`;
    const pack = await runBounded(["tar", "-cf", part, "-C", root, "."], { timeoutMs: 300_000 });
    assert.equal(pack.code, 0, pack.stderr);
    await Deno.rename(part, tar);
    return;
  }
  const unpack = await runBounded(["tar", "--numeric-owner", "-xpf", tar, "-C", root], {
    timeoutMs: 300_000,
  });
  assert.equal(unpack.code, 0, unpack.stderr);
}

/** Run in the chroot with `sh -e`: install, use, remove; one line per fact checked. */
const INSIDE = `
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root NO_COLOR=1
for t in deno npm npx node; do if command -v "$t"; then echo "found $t"; fi; done
dpkg -i /tmp/siglatch.deb
echo "user: $(getent passwd siglatch)"
stat -c 'dir: %a %U:%G %n' /etc/siglatch /etc/siglatch/keys
echo "version: $(siglatch --version)"
siglatch check /usr/share/doc/siglatch/examples/siglatchd.yaml
mkdir -p /root/demo && cd /root/demo
siglatch demo > demo.log 2>&1 &
demo=$!
i=0
while ! grep -q 'siglatchd ready' demo.log; do
  i=$((i + 1))
  if [ "$i" -gt 240 ] || ! kill -0 "$demo" 2>/dev/null; then cat demo.log; exit 1; fi
  sleep 0.5
done
echo "ping: $(siglatch send --profile .siglatch-demo/client.yaml ping)"
printed="$(grep -m 1 ' send --profile .* ping$' demo.log | sed 's/^ *//')"
echo "printed: $printed"
echo "printed ping: $(cd / && sh -c "$printed")"
grep -o 'network part started as [a-z]*' demo.log
kill "$demo"
wait "$demo" || true
dpkg -r siglatch
if [ -e /usr/lib/siglatch ]; then ls -R /usr/lib/siglatch | head; else echo "removed clean"; fi
`;

Deno.test({
  name: "the .deb installs into a clean Debian root (postinst there, not on the host), runs " +
    "offline with only loopback (check, demo answering a ping) and removes cleanly",
  ignore: skipWithout("debootstrap", "debootstrap") || skipWithout("dpkg-deb", "dpkg") ||
    skipWithout("ip", "iproute2") || skipUnlessRoot("clean-root .deb install"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "siglatch-debroot-" });
    const root = `${dir}/root`;
    try {
      const out = `${dir}/dist`;
      await buildRelease({ out, targets: ["x86_64"], payload: "runtime" });
      await cleanDebianRoot(root);
      await Deno.copyFile(`${out}/siglatch_${VERSION}_amd64.deb`, `${root}/tmp/siglatch.deb`);
      const r = await withNs(async (ns) => {
        const lo = await runBounded(["ip", "-n", ns, "link", "set", "lo", "up"]);
        assert.equal(lo.code, 0, lo.stderr);
        return await runBounded([
          "ip",
          "netns",
          "exec",
          ns,
          "sh",
          "-ec",
          'mount -t proc proc "$1/proc"; exec chroot "$1" /bin/sh -ec "$2"',
          "sh",
          root,
          INSIDE,
        ], { timeoutMs: 300_000 });
      });
      const text = r.stdout + r.stderr;
      assert.equal(r.code, 0, text);
      assert.doesNotMatch(text, /^found /m, "no deno, npm, npx or node in the clean root");
      assert.match(text, /^Setting up siglatch \(/m);
      assert.match(text, /^user: siglatch:x:\d+:\d+::\/nonexistent:\/usr\/sbin\/nologin$/m);
      assert.match(text, /^dir: 750 root:siglatch \/etc\/siglatch$/m);
      assert.match(text, /^dir: 700 root:root \/etc\/siglatch\/keys$/m);
      assert.match(text, new RegExp(`^version: ${VERSION.replaceAll(".", "\\.")}$`, "m"));
      assert.match(text, /examples\/siglatchd\.yaml: OK \(0 errors/);
      assert.match(text, /^ping: pong$/m);
      // The demo's "try, in another terminal" command is the package's, and works as printed.
      assert.match(text, /^printed: \/usr\/bin\/siglatch send --profile \/root\/demo\/\S+ ping$/m);
      assert.match(text, /^printed ping: pong$/m);
      assert.match(text, /^network part started as siglatch$/m);
      assert.match(text, /^removed clean$/m);
    } finally {
      // The proc mount lived in ip netns exec's mount namespace; never delete through a mount.
      const mounts = (await runBounded(["cat", "/proc/mounts"])).stdout; // Deno: -A only
      if (mounts.includes(` ${root}/`)) console.error(`${root} still has mounts: left in place`);
      else await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
