import type { Config } from "./config.ts";
export async function consume(_cfg: Config): Promise<number> { throw new Error("consume: not built yet"); }
