import { MAX_BODY_BYTES } from "../limits.ts";
import { MESSAGES } from "../messages.ts";

/** An HTTP-level refusal before any procedure runs (size, content type). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Marks a body that is not JSON; it fails every input schema, so the procedure answers its own 400. */
export class MalformedJson {
  constructor(readonly reason: string) {}
}

export function checkBodyHeaders(req: Request): void {
  const length = req.headers.get("content-length");
  if (length !== null && Number(length) > MAX_BODY_BYTES) {
    throw new HttpError(413, MESSAGES.bodyTooLarge);
  }
  const type = req.headers.get("content-type");
  if (type !== null && !/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type.trim())) {
    throw new HttpError(415, MESSAGES.unsupportedMediaType);
  }
}

// A fatal decoder keeps no state between whole-buffer decodes, so one serves every request.
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads a JSON request body: at most 64 KiB, UTF-8, JSON (an empty body is `{}`).
 * Returns the raw text too, because webhook signatures cover the exact bytes.
 */
export async function readJsonBody(req: Request): Promise<{ raw: string; json: unknown }> {
  checkBodyHeaders(req);
  const bytes = new Uint8Array(await req.arrayBuffer());
  if (bytes.byteLength > MAX_BODY_BYTES) throw new HttpError(413, MESSAGES.bodyTooLarge);
  let raw: string;
  try {
    raw = utf8.decode(bytes);
  } catch {
    return { raw: "", json: new MalformedJson("Body is not valid UTF-8") };
  }
  if (raw.trim() === "") return { raw, json: {} };
  try {
    return { raw, json: JSON.parse(raw) };
  } catch {
    return { raw, json: new MalformedJson("Body is not valid JSON") };
  }
}
