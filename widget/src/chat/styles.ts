/** Panel styles, adopted into the shadow root as a constructable sheet (no inline style anywhere). */
export const CSS = `
.p{position:fixed;bottom:88px;right:20px;z-index:2147483000;width:360px;height:min(560px,calc(100vh - 110px));
display:flex;flex-direction:column;box-sizing:border-box;background:#fff;color:#1d1d1f;border-radius:12px;
box-shadow:0 8px 30px rgba(0,0,0,.25);font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;overflow:hidden}
.p.left{right:auto;left:20px}
.p[hidden],[hidden]{display:none!important}
header{display:flex;align-items:center;justify-content:space-between;padding:12px 12px 12px 16px;background:var(--c);color:var(--f)}
h2{margin:0;font-size:17px}
button,input,textarea{font:inherit;color:inherit}
button{cursor:pointer}
:focus-visible{outline:3px solid #1d1d1f;outline-offset:2px}
header button:focus-visible{outline-color:var(--f)}
.x{border:0;background:none;color:var(--f);font-size:26px;line-height:1;width:40px;height:40px;border-radius:8px}
.m{flex:1;overflow-y:auto;padding:12px 16px;display:flex;flex-direction:column;gap:10px}
.lg{display:flex;flex-direction:column;gap:10px}
.n{margin:0;font-size:13px;color:#4a4a4f}
a{color:#0b4fa8}
.g{display:flex;flex-direction:column;align-items:flex-start;max-width:85%}
.g.v{align-self:flex-end;align-items:flex-end}
.t{margin:0;padding:8px 12px;border-radius:14px;background:#eef0f3;white-space:pre-wrap;overflow-wrap:anywhere}
.v .t{background:var(--c);color:var(--f)}
.v .t a{color:inherit}
.i{margin:2px 4px 0;font-size:12px;color:#4a4a4f}
.e .i{color:#b3261e}
.s{margin:0;padding:0 16px;font-size:13px;color:#4a4a4f}
form{display:flex;gap:8px;padding:10px 12px;border-top:1px solid #ddd;align-items:flex-end}
form.o{flex-direction:column;align-items:stretch;padding:0;border:0}
label{font-size:13px;font-weight:600}
input,textarea{box-sizing:border-box;width:100%;border:1px solid #767676;border-radius:8px;padding:8px;background:#fff}
textarea{resize:none}
.k{flex:none;border:0;border-radius:8px;padding:9px 14px;background:var(--c);color:var(--f);font-weight:600}
.k:focus-within{outline:3px solid #1d1d1f;outline-offset:2px}
.f{margin:0 12px 10px;border:0;background:none;padding:4px;color:#4a4a4f;font-size:13px;text-decoration:underline}
.ai{font-weight:600}
.qr{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px}
.qr button{border:1px solid var(--c);border-radius:14px;background:#fff;padding:4px 10px}
.g:not(:last-child) .qr{display:none}
form.rt{flex-flow:row wrap}.rt>:not(.k){flex-basis:100%}
.r{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:480px){.p,.p.left{inset:0;width:auto;height:auto;border-radius:0}.p:not([hidden])~.l{display:none}}
`;
