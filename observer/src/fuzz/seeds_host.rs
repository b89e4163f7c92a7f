//! Seeds of the targets fed by the host rather than by the wire: /proc files
//! as the runtimes write them (`cgroup`, `proc_files`), command lines
//! (`redact`), credentials (`apikey`), price files (`prices`: the bundled
//! table, a user's override, LiteLLM's JSON) and hostile text (`text`).
//!
//! The `elf_symbols` seeds are committed as built, not written here: tiny
//! shared libraries exporting each symbol-found stack's functions, e.g.
//!
//! ```sh
//! echo 'int SSL_write(void*s,const void*b,int n){return n;} …' > ssl.c
//! gcc -Os -fPIC -shared -nostdlib -fno-asynchronous-unwind-tables \
//!     -Wl,--build-id -Wl,-z,norelro -Wl,-z,noseparate-code \
//!     -Wl,-z,max-page-size=4096 -o libssl.so.3 ssl.c   # 2 KiB
//! ```
//!
//! (also `gnutls_record_send`/`_recv`/`gnutls_deinit`, NSPR's `PR_Write`/
//! `PR_Read`/`PR_Close`, one stripped with `-s`, one static-pie executable).

use super::http::SEP;

/// `opts | n | ctl | payload`.
fn input(opts: u8, ctl: &[u8], payload: &[u8]) -> Vec<u8> {
    [&[opts, ctl.len() as u8][..], ctl, payload].concat()
}

const ID: &str = "3f1a9c5e7b2d4f6081a3c5e7092b4d6f8a1c3e5f7092b4d6f8a1c3e5f7092b4d";
const UID: &str = "1d3c4b2a-5e6f-4a7b-8c9d-0e1f2a3b4c5d";

/// `/proc/PID/cgroup` of a process under each runtime and cgroup driver.
fn cgroup_files() -> Vec<(&'static str, String)> {
    let uid_ = UID.replace('-', "_");
    let v1 = |path: &str| {
        let mut s = String::new();
        for (i, c) in [
            "cpuset",
            "cpu,cpuacct",
            "blkio",
            "memory",
            "devices",
            "freezer",
            "net_cls,net_prio",
            "perf_event",
            "hugetlb",
            "pids",
            "rdma",
        ]
        .iter()
        .enumerate()
        {
            s += &format!("{}:{c}:{path}\n", 12 - i);
        }
        s + &format!("1:name=systemd:{path}\n0::/\n")
    };
    vec![
        ("docker-systemd", format!("0::/system.slice/docker-{ID}.scope\n")),
        ("docker-cgroupfs-v1", v1(&format!("/docker/{ID}"))),
        (
            "k8s-containerd-systemd",
            format!("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/cri-containerd-{ID}.scope\n"),
        ),
        (
            "k8s-cgroupfs-v1",
            v1(&format!("/kubepods/besteffort/pod{UID}/{ID}")),
        ),
        (
            "crio-conmon",
            format!("0::/kubepods.slice/kubepods-pod{uid_}.slice/crio-conmon-{ID}.scope\n"),
        ),
        (
            "podman-rootless",
            format!("0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container\n"),
        ),
        (
            "podman-machine",
            format!("0::/machine.slice/machine-libpod\\x2d{ID}.scope\n"),
        ),
        (
            "nspawn",
            "0::/machine.slice/machine-build\\x2dbox.scope/payload\n".into(),
        ),
        (
            "host",
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-1.scope\n".into(),
        ),
        (
            "hostile",
            format!("0::/machine.slice/machine-\u{e9}t\u{e9}\\x1b[2J\u{1b}]0;x\u{7}.scope/docker-{ID}.scope/pod{UID}\n"),
        ),
    ]
}

pub(super) fn write(put: &dyn Fn(&str, &str, &[u8])) {
    for (name, file) in cgroup_files() {
        put("cgroup", name, &input(1, &[], file.as_bytes()));
    }

    let status = "Name:\tpython3\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nNgid:\t0\nPid:\t4242\nPPid:\t1\nTracerPid:\t0\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nFDSize:\t64\nGroups:\t27 1000 \nVmRSS:\t   81236 kB\nThreads:\t4\n";
    let passwd = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\napp:x:1000:1000:App,,,:/home/app:/bin/sh\n";
    let environ = "PATH=/usr/local/bin:/usr/bin\0HOSTNAME=chat-7d9f8c-x2k4q\0LLM_TAG_team=search\0LLM_TAG_Cost_Center=42\0OTEL_RESOURCE_ATTRIBUTES=service.name=chat,deployment.environment=prod%20eu\0OTEL_SERVICE_NAME=chat-api\0OPENAI_API_KEY=sk-proj-abc\0";
    let uid_ = UID.replace('-', "_");
    let k8s = format!("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/cri-containerd-{ID}.scope\n");
    let files: [&[u8]; 8] = [
        b"python3\n",
        b"/usr/bin/python3.12",
        b"python3\0-m\0app\0--api-key\0sk-proj-4f9aB7cD1eF2gH3iJ4kL5mN6oP7q\0--port\08000\0",
        status.as_bytes(),
        passwd.as_bytes(),
        k8s.as_bytes(),
        environ.as_bytes(),
        b"search\n",
    ];
    put("proc_files", "k8s", &input(0, &[], &files.join(SEP)));
    let mut docker = files;
    docker[5] = &b"0::/system.slice/docker-3f1a9c5e7b2d4f6081a3c5e7092b4d6f8a1c3e5f7092b4d6f8a1c3e5f7092b4d.scope\n"[..];
    docker[2] = &b"curl\0-sS\0-u\0alice:pw\0-H\0Authorization: Bearer sk-ant-api03-xyz\0https://api.anthropic.com/v1/messages\0"[..];
    put(
        "proc_files",
        "docker-tags",
        &input(4, &[], &docker.join(SEP)),
    );
    let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 23718 1 0000000000000000 100 0 0 10 0\n   1: 0F02000A:C5A2 2204A8C0:01BB 01 00000000:00000000 02:000A7D5E 00000000  1000        0 39217 2 0000000000000000 20 4 30 10 -1\n";
    let tcp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0000000000000000FFFF00000F02000A:D1F4 0000000000000000FFFF00002204A8C0:01BB 01 00000000:00000000 00:00000000 00000000  1000        0 40411 1 0000000000000000 20 4 28 10 -1\n   1: 00000000000000000000000001000000:0277 B80D01200000000000000000D4C3B2A1:01BB 01 00000000:00000000 00:00000000 00000000     0        0 40412 1 0000000000000000 20 4 0 10 -1\n";
    put("proc_files", "net-tcp", &input(0, &[], tcp.as_bytes()));
    put("proc_files", "net-tcp6", &input(0, &[], tcp6.as_bytes()));
    let stat = "4242 (python3 (worker) x) S 1 4242 4242 0 -1 4194560 9061 0 0 0 41 7 0 0 20 0 4 0 1823441 1093468160 20309 18446744073709551615 1 1 0 0 0 0 0 16781312 16386 0 0 0 17 1 0 0 0 0 0";
    put("proc_files", "stat", &input(0, &[], stat.as_bytes()));

    let cmdlines: &[(u8, &str)] = &[
        (0x30, "curl -sS -H \"Authorization: Bearer sk-proj-4f9aB7cD1eF2gH3iJ4kL5mN6oP7qR8sT9uV0w\" -d {} https://api.openai.com/v1/chat/completions"),
        (0x21, "python3 -m app --api-key abcdef123 --model gpt-4o"),
        (0x42, "env OPENAI_API_KEY=abc AZURE_OPENAI_API_KEY=k1 GITHUB_TOKEN=t2 python x.py"),
        (0x16, "curl -u alice:pw0rd --proxy-user bob:hunter2 https://h"),
        (0x58, r#"curl -d {"api_key":"abc123","model":"m"} https://h -d '{"api_key": "abc123"}'"#),
        (0x1b, "curl https://b/m?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA/x&X-Amz-Signature=f00d"),
        (0x0d, "curl -H X-Amz-Security-Token: FwoGZXIvYXdzE -H x-api-key: sk-ant-api03-abcdef https://g/v1beta/m?key=AIzaSyA0123456789abcdefghij"),
        (0x07, "node server.js --port 8000 worker sk-or-v1-0123456789abcdef0123456789"),
    ];
    for (i, (opts, line)) in cmdlines.iter().enumerate() {
        let ctl = [0x11, 0x35, 0x5a, 0x7c, 0x93, 0xb4, 0xd8, 0xfe];
        put(
            "redact",
            &format!("{i:02}"),
            &input(*opts, &ctl, line.as_bytes()),
        );
    }

    let jwt_claims = r#"{"aud":"https://cognitiveservices.azure.com","iss":"https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/","tid":"72f988bf-86f1-41af-91ab-2d7cd011db47","oid":"0b1f5e2a-7c3d-4e6f-8a9b-1c2d3e4f5a6b","appid":"04b07795-8ddb-461a-bbee-02f9e1bf7b46","exp":1767225600}"#;
    let keys: &[(u8, &str)] = &[
        (3, "Bearer sk-proj-4f9aB7cD1eF2gH3iJ4kL5mN6oP7qR8sT9uV0wX1yZ2x9Qa"),
        (0, "sk-ant-api03-Zx9_Yw8-Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe-AAAA"),
        (1, "0123456789abcdef0123456789abcdef"),
        (2, "AIzaSyA0123456789abcdefghijklmnopq"),
        (4, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"),
        (3, "Basic YWxpY2U6cHcwcmQ="),
        (6, "AIzaSyQ0123456789abcdefghijklmnopq"),
        (0x18 | 0x20 | 3, jwt_claims),
        (0x18 | 3, jwt_claims),
        (0x13, "gsk_0123456789abcdefghijklmnopqrstuv"),
    ];
    for (i, (opts, value)) in keys.iter().enumerate() {
        put(
            "apikey",
            &format!("{i:02}"),
            &input(*opts, &[], value.as_bytes()),
        );
    }

    put(
        "prices",
        "bundled",
        &input(0, &[0x07, 0x2f, 0x43], crate::pricing::BUNDLED.as_bytes()),
    );
    let user = r#"version = "acme-2026-01"
effective = "2026-01-05"

[providers.openai]
tiers = { flex = 0.5, priority = 2.0 }

[providers.openai.models."gpt-4o"]
input = 2.0
output = 8.0
cache_read = 1.0
aliases = ["gpt-4o-acme"]
tiers = { batch = 0.5, priority = { input = 4.25, output = 17.0 } }

[providers.openai.models."gpt-4o".above]
input_tokens = 128000
input = 4.0
output = 16.0

[providers.vllm]
free = true

[providers.azure]
fallback = ["openai"]

[providers.bedrock.models."anthropic.claude-3-haiku-20240307-v1:0"]
input = 0.25
output = 1.25
geo_premium = 0.1
fine_tuned = { input = 0.5, output = 2.5 }
"#;
    put("prices", "user", &input(1, &[0x21, 0x05], user.as_bytes()));
    let litellm = r#"{
  "sample_spec": {"max_tokens": "set to max_output_tokens", "input_cost_per_token": 0},
  "gpt-4o": {"litellm_provider": "openai", "mode": "chat",
    "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
    "cache_read_input_token_cost": 1.25e-06,
    "input_cost_per_token_batches": 1.25e-06, "output_cost_per_token_batches": 5e-06,
    "input_cost_per_token_priority": 4.25e-06, "output_cost_per_token_priority": 1.7e-05},
  "gemini/gemini-2.5-pro": {"litellm_provider": "gemini", "mode": "chat",
    "input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05,
    "input_cost_per_token_above_200k_tokens": 2.5e-06, "output_cost_per_token_above_200k_tokens": 1.5e-05},
  "claude-opus-4-1": {"litellm_provider": "anthropic", "input_cost_per_token": 1.5e-05,
    "output_cost_per_token": 7.5e-05, "cache_creation_input_token_cost": 1.875e-05,
    "cache_creation_input_token_cost_above_1hr": 3e-05, "cache_read_input_token_cost": 1.5e-06},
  "gpt-realtime": {"litellm_provider": "openai", "mode": "chat",
    "input_cost_per_token": 4e-06, "output_cost_per_token": 1.6e-05, "cache_read_input_token_cost": 4e-07,
    "input_cost_per_audio_token": 3.2e-05, "output_cost_per_audio_token": 6.4e-05},
  "dall-e-3": {"litellm_provider": "openai", "mode": "image_generation", "output_cost_per_image": 0.04}
}"#;
    put("prices", "litellm", &input(4, &[0x0f], litellm.as_bytes()));

    let plain: [&[u8]; 7] = [
        b"python3",
        b"gpt-4o",
        b"gpt-4o-2024-08-06",
        ID.as_bytes(),
        b"chat-7d9f8c-x2k4q",
        b"search",
        "sk-proj-\u{2026}x9Qa:3f1a9c5e7b2d".as_bytes(),
    ];
    put("text", "plain", &input(0, &[0x0b], &plain.join(SEP)));
    let hostile: [&[u8]; 9] = [
        b"x\x1b[2Jy\r\n",
        b"=HYPERLINK(\"http://evil\",\"x\")",
        b"-2+3+cmd|' /C calc'!A0",
        "abcdefghijk\u{e9}z\u{202e}".as_bytes(),
        b"@SUM(1,2)",
        b"a,b\"c\nd\te\x7f\xc2\x85\xe2\x80\xa8",
        b"+1",
        b"\xff\xfe broken \xe9",
        br#"{"d0":"=1+1","d1":"\u001b[31m","calls":1,"errors":0,"rate_limited":0,"unpriced":0,"cost_usd":1e308,"input_tokens":1,"output_tokens":1,"cache_read_tokens":0,"duration_us_q":[null,1e9],"ttft_us_q":[]}"#,
    ];
    put("text", "hostile", &input(0x0f, &[0x02], &hostile.join(SEP)));
    put(
        "text",
        "hostile-pod",
        &input(0x09, &[0x17], &hostile.join(SEP)),
    );
}
