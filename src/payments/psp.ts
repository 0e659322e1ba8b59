/**
 * The PSP port: what the service asks of its bank/PSP, in the domain's terms (integer cents, epoch
 * milliseconds). Two adapters implement it (src/psp/): the client of the Banco Central's API Pix, and a
 * simulated PSP for development. The composition root picks one from PSP_API_URL.
 */

/** A Pix as the PSP knows it. */
export interface PspPix {
  endToEndId: string;
  txid: string | null;
  amountCents: number;
  /** `horario`: when the PSP processed it. */
  at: number;
  payerInfo: string | null;
  refunds: PspRefund[];
}

/** A devolução as the PSP reports it. `status` is the API Pix's (unknown future values are passed on). */
export interface PspRefund {
  /** The devolução id: our refund id. */
  id: string;
  rtrId: string | null;
  amountCents: number;
  status: "EM_PROCESSAMENTO" | "DEVOLVIDO" | "NAO_REALIZADO" | (string & {});
  /** `motivo`: why it reached its status (e.g. why it was not made). */
  reason: string | null;
}

export interface RefundRequest {
  /** The Pix to return; null only for the simulated PSP (a payment confirmed through §4). */
  endToEndId: string | null;
  /** The devolução id: the same on every attempt, so the PSP makes it once. */
  refundId: string;
  amountCents: number;
  /** `natureza`: a refund of an ordinary Pix, asked for by the receiver. */
  nature: "ORIGINAL";
  /** `descricao`: shown to the payer. */
  description: string | null;
}

export interface Psp {
  /**
   * True when refunds must name the Pix they return (every real PSP: `PUT /pix/{e2eid}/devolucao/{id}`), so a
   * payment confirmed through §4, which has no endToEndId, cannot be refunded.
   */
  readonly refundsNeedEndToEndId: boolean;
  /**
   * The PSP's own record of a received Pix (`GET /pix/{e2eid}`), or null when it has none. Only a PSP with an
   * API can confirm a Pix; the simulated one has no such record and leaves this out.
   */
  getPix?(endToEndId: string): Promise<PspPix | null>;
  /** Asks for a devolução (`PUT /pix/{e2eid}/devolucao/{id}`); idempotent by refundId. */
  requestRefund(request: RefundRequest): Promise<PspRefund>;
  /** The devolução's current state (`GET /pix/{e2eid}/devolucao/{id}`), or null when the PSP has none. */
  getRefund(endToEndId: string | null, refundId: string): Promise<PspRefund | null>;
}

/** The PSP could not answer now (refused connection, timeout, 5xx, 429): the same call may succeed later. */
export class PspUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PspUnavailableError";
  }
}

/** The PSP refused the request as it is (a 4xx other than 401, 408 and 429): sending it again will not help. */
export class PspRejectedError extends Error {
  constructor(
    readonly status: number,
    /** The problem's `title`/`detail` (RFC 7807), when the PSP sent one. */
    readonly detail: string,
  ) {
    super(`PSP answered ${status}${detail ? `: ${detail}` : ""}`);
    this.name = "PspRejectedError";
  }
}
