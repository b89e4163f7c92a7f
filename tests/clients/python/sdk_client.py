#!/usr/bin/env python3
"""Drives an official Python SDK, unmodified, against the mock providers:

* ``--sdk openai``: ``--op responses`` (stream and not), ``embeddings``, ``chat``
  (``--mode stream-nousage``: ``stream=True`` without ``stream_options``).
  Base URL from ``OPENAI_BASE_URL``.
* ``--sdk anthropic``: ``--op messages`` (stream and not). Default base URL
  (``https://api.anthropic.com``, also ``ANTHROPIC_BASE_URL``).
* ``--sdk genai`` (google-genai): ``--op generate`` (``generate_content`` and
  ``generate_content_stream``), Gemini Developer API; default base URL (also
  ``GOOGLE_GEMINI_BASE_URL``); ``--cached`` names a ``cached_content``.
* ``--sdk bedrock`` (boto3 ``bedrock-runtime``, region us-east-1): ``--op
  converse`` (``converse`` / ``converse_stream``) or ``--op invoke``
  (``invoke_model`` / ``invoke_model_with_response_stream``, Anthropic-native
  body). Credentials from ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, CA
  from ``AWS_CA_BUNDLE``; ``--cached`` adds a cache marker (Converse
  ``cachePoint``, Anthropic ``cache_control``).

The CA comes from ``SSL_CERT_FILE`` (``AWS_CA_BUNDLE`` for boto3); the hosts resolve to
the mock through the namespace's hosts file. Retries are off (one HTTP
exchange per call). Prints one JSON line per call: what this process saw.
"""
import argparse
import json
import os
import threading
import time


def comm():
    with open("/proc/self/comm") as f:
        return f.read().strip()


def dump(u):
    if u is None:
        return None
    return u.model_dump(exclude_none=True) if hasattr(u, "model_dump") else dict(u)


def text_for(args, i):
    return " ".join("word%d" % j for j in range(args.words + i))


def openai_call(client, args, i, out):
    import openai
    try:
        if args.op == "embeddings":
            raw = client.embeddings.with_raw_response.create(
                model=args.model, input=[text_for(args, i), "second input"])
            e = raw.parse()
            out.update(response_model=e.model, usage=dump(e.usage), vectors=len(e.data))
        elif args.op == "responses":
            kw = {"model": args.model, "input": text_for(args, i)}
            if args.max_tokens:
                kw["max_output_tokens"] = args.max_tokens
            if args.mode == "stream":
                raw = client.responses.with_raw_response.create(stream=True, **kw)
                final, text = None, ""
                for ev in raw.parse():
                    if ev.type == "response.output_text.delta":
                        text += ev.delta
                    if ev.type in ("response.completed", "response.incomplete", "response.failed"):
                        final = ev.response
            else:
                raw = client.responses.with_raw_response.create(**kw)
                final = raw.parse()
                text = final.output_text
            out.update(response_id=final.id, response_model=final.model, usage=dump(final.usage),
                       content=text, finish=final.status)
        else:  # chat
            kw = {"model": args.model, "messages": [{"role": "user", "content": text_for(args, i)}]}
            assert args.mode == "stream-nousage", "chat here is the stream without include_usage"
            raw = client.chat.completions.with_raw_response.create(stream=True, **kw)
            usage, rid, rmodel = None, "", ""
            for chunk in raw.parse():
                rid, rmodel = chunk.id, chunk.model
                usage = chunk.usage or usage
            out.update(response_id=rid, response_model=rmodel, usage=dump(usage))
        out["request_id"] = raw.headers.get("x-request-id", "")
        out["status"] = raw.status_code
        out["content_encoding"] = raw.headers.get("content-encoding", "")
    except openai.APIStatusError as e:
        out.update(status=e.status_code, request_id=e.request_id or "")


def anthropic_call(client, args, i, out):
    import anthropic
    kw = {"model": args.model, "max_tokens": args.max_tokens or 1024,
          "system": "You are a test.",
          "messages": [{"role": "user", "content": text_for(args, i)}]}
    try:
        if args.mode == "stream":
            raw = client.messages.with_raw_response.create(stream=True, **kw)
            usage, text = {}, ""
            for ev in raw.parse():
                if ev.type == "message_start":
                    out.update(response_id=ev.message.id, response_model=ev.message.model)
                    usage.update(dump(ev.message.usage))
                elif ev.type == "content_block_delta":
                    text += ev.delta.text
                elif ev.type == "message_delta":
                    usage.update(dump(ev.usage))
                    out["finish"] = ev.delta.stop_reason
            out.update(usage=usage, content=text)
        else:
            raw = client.messages.with_raw_response.create(**kw)
            m = raw.parse()
            out.update(response_id=m.id, response_model=m.model, usage=dump(m.usage),
                       finish=m.stop_reason)
        out["request_id"] = raw.headers.get("request-id", "")
        out["status"] = raw.status_code
    except anthropic.APIStatusError as e:
        out.update(status=e.status_code, request_id=e.request_id or "")


def genai_call(client, args, i, out):
    from google.genai import errors, types
    cfg = {}
    if args.max_tokens:
        cfg["max_output_tokens"] = args.max_tokens
    if args.cached:
        cfg["cached_content"] = "cachedContents/e2e-mock-cache"
    config = types.GenerateContentConfig(**cfg) if cfg else None
    try:
        if args.mode == "stream":
            last, text = None, ""
            for chunk in client.models.generate_content_stream(
                    model=args.model, contents=text_for(args, i), config=config):
                last = chunk
                text += chunk.text or ""
        else:
            last = client.models.generate_content(model=args.model, contents=text_for(args, i),
                                                  config=config)
            text = last.text
        out.update(status=200, response_id=last.response_id, response_model=last.model_version,
                   usage=dump(last.usage_metadata), content=text,
                   finish=str(last.candidates[0].finish_reason.value))
    except errors.APIError as e:
        out.update(status=e.code, request_id="")


def bedrock_call(client, args, i, out):
    from botocore.exceptions import ClientError, EventStreamError
    system = "You are a test."
    try:
        if args.op == "converse":
            sys_blocks = [{"text": system}]
            if args.cached:
                sys_blocks.append({"cachePoint": {"type": "default"}})
            kw = {"modelId": args.model, "system": sys_blocks,
                  "messages": [{"role": "user", "content": [{"text": text_for(args, i)}]}],
                  "inferenceConfig": {"maxTokens": args.max_tokens or 1024}}
            if args.mode == "stream":
                r = client.converse_stream(**kw)
                text, usage = "", None
                try:
                    for ev in r["stream"]:
                        if "contentBlockDelta" in ev:
                            text += ev["contentBlockDelta"]["delta"].get("text", "")
                        elif "messageStop" in ev:
                            out["finish"] = ev["messageStop"]["stopReason"]
                        elif "metadata" in ev:
                            usage = ev["metadata"]["usage"]
                except EventStreamError as e:  # an exception message mid-stream
                    out["stream_error"] = e.response.get("Error", {}).get("Code", "")
                out.update(usage=usage, content=text)
            else:
                r = client.converse(**kw)
                out.update(usage=r["usage"], finish=r["stopReason"],
                           content=r["output"]["message"]["content"][0]["text"])
        else:  # invoke: Anthropic Messages, natively
            sys_field = system
            if args.cached:
                sys_field = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
            body = json.dumps({"anthropic_version": "bedrock-2023-05-31",
                               "max_tokens": args.max_tokens or 1024, "system": sys_field,
                               "messages": [{"role": "user", "content": text_for(args, i)}]})
            kw = {"modelId": args.model, "body": body, "contentType": "application/json",
                  "accept": "application/json"}
            if args.mode == "stream":
                r = client.invoke_model_with_response_stream(**kw)
                text, usage = "", None
                for ev in r["body"]:
                    c = json.loads(ev["chunk"]["bytes"])
                    if c["type"] == "message_start":
                        out.update(response_id=c["message"]["id"],
                                   response_model=c["message"]["model"])
                    elif c["type"] == "content_block_delta":
                        text += c["delta"].get("text", "")
                    elif c["type"] == "message_delta":
                        out["finish"] = c["delta"]["stop_reason"]
                    m = c.get("amazon-bedrock-invocationMetrics")
                    if m:
                        usage = {"inputTokens": m["inputTokenCount"],
                                 "outputTokens": m["outputTokenCount"]}
                out.update(usage=usage, content=text)
            else:
                r = client.invoke_model(**kw)
                m = json.loads(r["body"].read())
                hdr = r["ResponseMetadata"]["HTTPHeaders"]
                out.update(response_id=m["id"], response_model=m["model"], finish=m["stop_reason"],
                           usage={"inputTokens": int(hdr["x-amzn-bedrock-input-token-count"]),
                                  "outputTokens": int(hdr["x-amzn-bedrock-output-token-count"])},
                           content=m["content"][0]["text"])
        meta = r["ResponseMetadata"]
        out.update(status=meta["HTTPStatusCode"], request_id=meta.get("RequestId", ""),
                   retry_attempts=meta.get("RetryAttempts", 0))
    except ClientError as e:
        meta = e.response.get("ResponseMetadata", {})
        out.update(status=meta.get("HTTPStatusCode", 0), request_id=meta.get("RequestId", ""),
                   error_code=e.response.get("Error", {}).get("Code", ""),
                   retry_attempts=meta.get("RetryAttempts", 0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sdk", choices=["openai", "anthropic", "genai", "bedrock"], required=True)
    ap.add_argument("--op", default="")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--mode", choices=["stream", "nonstream", "stream-nousage"], default="nonstream")
    ap.add_argument("--model", required=True)
    ap.add_argument("--words", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=0)
    ap.add_argument("--cached", action="store_true")
    args = ap.parse_args()
    if args.sdk == "openai":
        import openai
        client = openai.OpenAI(api_key=os.environ["OPENAI_API_KEY"], max_retries=0, timeout=30.0)
        call = openai_call
    elif args.sdk == "anthropic":
        import anthropic
        client = anthropic.Anthropic(api_key=os.environ["ANTHROPIC_API_KEY"], max_retries=0, timeout=30.0)
        call = anthropic_call
    elif args.sdk == "bedrock":
        import boto3
        from botocore.config import Config
        # total_max_attempts counts the first attempt; botocore's max_attempts
        # counts retries only (max_attempts=1 still retries a 429 once).
        client = boto3.client("bedrock-runtime", region_name="us-east-1", config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=30, read_timeout=30))
        call = bedrock_call
    else:
        from google import genai
        from google.genai import types
        client = genai.Client(api_key=os.environ["GEMINI_API_KEY"], http_options=types.HttpOptions(
            retry_options=types.HttpRetryOptions(attempts=1), timeout=30000))
        call = genai_call
    for i in range(args.count):
        out = {"client": "python-" + args.sdk, "sdk": args.sdk, "op": args.op, "pid": os.getpid(),
               "tid": threading.get_native_id(), "comm": comm(), "mode": args.mode,
               "model": args.model, "index": i, "response_id": "", "response_model": ""}
        t0 = time.monotonic()
        call(client, args, i, out)
        out["elapsed_ms"] = round((time.monotonic() - t0) * 1000, 3)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
