import { z } from "zod";
import type { Devolucao, Pix, PixCallback } from "./api-pix-types.ts";

export type { Devolucao, Pix, PixCallback };

/**
 * The shapes of the Banco Central's API Pix (`bacen/pix-api`, openapi.yaml v2.x) that this service speaks
 * to a PSP, with the spec's names. Objects keep unknown fields out of the result but accept them: the spec
 * lets a PSP add fields (and enum values) at any time without a new major version.
 */

/** `EndToEndId`: 32 letters and digits; E… for a Pix, D… for a devolução's (as the spec's examples write them). */
export const END_TO_END_ID = /^[ED][a-zA-Z0-9]{31}$/;
/** `DevolucaoId`: chosen by the receiver, unique per Pix. */
export const DEVOLUCAO_ID = /^[a-zA-Z0-9]{1,35}$/;
/** A Pix's `txid`: the spec narrows `TxId` to `[a-zA-Z0-9]{1,35}` for received Pix. */
export const TXID = /^[a-zA-Z0-9]{1,35}$/;
/** `valor`: reais, exactly two decimals. */
export const VALOR = /^\d{1,10}\.\d{2}$/;

/** RFC 3339 date-time, with `Z` or an offset. */
const horario = z.iso.datetime({ offset: true });
const valor = z.string().regex(VALOR);

/** Devolução statuses the spec defines; others (added later by the spec) are kept as strings and ignored. */
export type DevolucaoStatus = "EM_PROCESSAMENTO" | "DEVOLVIDO" | "NAO_REALIZADO";

/** `Devolucao`: a refund as the PSP reports it (PUT/GET /pix/{e2eid}/devolucao/{id}, `pix[].devolucoes[]`). */
export const devolucaoSchema: z.ZodType<Devolucao> = z.object({
  id: z.string().regex(DEVOLUCAO_ID),
  rtrId: z.string().regex(/^[a-zA-Z0-9]{32}$/),
  valor,
  natureza: z.string().max(40).optional(),
  descricao: z.string().max(140).optional(),
  horario: z.object({ solicitacao: horario.optional(), liquidacao: horario.optional() }),
  status: z.string().min(1).max(40),
  motivo: z.string().max(140).optional(),
});

/** `Pix`: a received Pix (GET /pix/{e2eid}, and each item of the webhook callback). */
export const pixSchema: z.ZodType<Pix> = z.object({
  endToEndId: z.string().regex(END_TO_END_ID),
  txid: z.string().regex(TXID).optional(),
  valor,
  horario,
  infoPagador: z.string().max(140).optional(),
  // The spec's own webhook example writes one devolução as an object rather than an array.
  devolucoes: z.union([z.array(devolucaoSchema), devolucaoSchema.transform((d) => [d])]).optional(),
});

/** The webhook callback body, `POST {webhookUrl}/pix`: `{"pix": [...]}`. */
export const pixCallbackSchema: z.ZodType<PixCallback> = z.object({ pix: z.array(pixSchema).max(1000) });

/** `DevolucaoSolicitada`: the body of PUT /pix/{e2eid}/devolucao/{id}. */
export const devolucaoSolicitadaSchema = z.object({
  valor,
  natureza: z.enum(["ORIGINAL", "RETIRADA"]).optional(),
  descricao: z.string().max(140).optional(),
});
export type DevolucaoSolicitada = z.infer<typeof devolucaoSolicitadaSchema>;

/** RFC 6749 §5.1 access token response, as API Pix PSPs answer POST /oauth/token. */
export const tokenResponseSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().regex(/^bearer$/i),
  expires_in: z.number().int().positive().optional(),
  scope: z.string().optional(),
});
export type TokenResponse = z.infer<typeof tokenResponseSchema>;
