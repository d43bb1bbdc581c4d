export * from "./transport/mod.ts";
export * from "./protocol/mod.ts";
export * from "./framing/mod.ts";
export * from "./packet/mod.ts";
export * from "./endpoints/mod.ts";
