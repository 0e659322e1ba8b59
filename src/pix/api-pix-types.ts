/**
 * The Banco Central's API Pix shapes as plain types (their zod schemas are in api-pix.ts). Kept apart so that
 * the declarations the typed client ships, which reach the domain's signatures, never reach zod.
 */

/** `Devolucao`: a refund as the PSP reports it (PUT/GET /pix/{e2eid}/devolucao/{id}, `pix[].devolucoes[]`). */
export interface Devolucao {
  id: string;
  rtrId: string;
  valor: string;
  natureza?: string;
  descricao?: string;
  horario: { solicitacao?: string; liquidacao?: string };
  status: string;
  motivo?: string;
}

/** `Pix`: a received Pix (GET /pix/{e2eid}, and each item of the webhook callback). */
export interface Pix {
  endToEndId: string;
  txid?: string;
  valor: string;
  horario: string;
  infoPagador?: string;
  devolucoes?: Devolucao[];
}

/** The webhook callback body, `POST {webhookUrl}/pix`: `{"pix": [...]}`. */
export interface PixCallback {
  pix: Pix[];
}
