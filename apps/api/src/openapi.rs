//! The OpenAPI document's frame (title, tags, security schemes) and the browsable page at
//! `/docs`, which reads `/openapi.json` and needs nothing from the internet.

use axum::response::Html;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Experiment API",
        description = "Taiwan stock market data (TWSE/TPEx securities, quotes, daily bars), \
indicators and statistics computed from it, alert rules with validation that points at the \
error, backtests, alerts and their deliveries, push ingest onto the event log, and a live \
stream. Every error is application/problem+json (RFC 9457). Modifying requests need an API \
key (`Authorization: Bearer <key>` or `X-API-Key`). Lists are paged with `cursor` \
(the `next_cursor` of the previous page) and `limit`.",
        license(name = "MIT OR Apache-2.0"),
    ),
    tags(
        (name = "securities", description = "Security profiles and search"),
        (name = "market data", description = "Quotes, daily bars and indicators"),
        (name = "statistics", description = "Breadth, movers, industries and per-security figures"),
        (name = "rules", description = "Alert rules: validation, storage, backtests"),
        (name = "destinations", description = "Where alerts are delivered"),
        (name = "watchlist", description = "The codes polled in real time"),
        (name = "alerts", description = "Alerts and their deliveries"),
        (name = "ingest", description = "Push data onto the event log"),
        (name = "stream", description = "Live Server-Sent Events"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    ),
    modifiers(&Security),
)]
pub(crate) struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key as a bearer token"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// `GET /docs`: a page that lists every operation of `/openapi.json` by tag, with its
/// parameters and responses, and lets you try it.
pub(crate) async fn docs_page() -> Html<&'static str> {
    Html(DOCS_HTML)
}

const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Experiment API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f7f8fa}
header{background:#1d2330;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
main{max-width:1000px;margin:0 auto;padding:16px 24px}
.tag{margin-top:26px;font-size:17px;border-bottom:1px solid #ccd;padding-bottom:4px}
details{background:#fff;border:1px solid #dde;border-radius:6px;margin:8px 0}
summary{cursor:pointer;padding:8px 12px;font-family:ui-monospace,monospace}
.m{display:inline-block;width:64px;font-weight:700}.get{color:#0a7}.post{color:#06c}.put,.patch{color:#b70}.delete{color:#c22}
.body{padding:6px 14px 14px}table{border-collapse:collapse;width:100%}td,th{text-align:left;border-bottom:1px solid #eee;padding:3px 6px;vertical-align:top}
input,textarea{font:13px ui-monospace,monospace;width:100%;box-sizing:border-box}textarea{height:90px}
pre{background:#1d2330;color:#e8eaf0;padding:10px;overflow:auto;max-height:360px;border-radius:4px}
button{margin-top:8px;padding:5px 14px}#key{width:360px}
</style></head><body>
<header><h1>Experiment API</h1><div id="desc"></div></header>
<main><p>API key (for writes): <input id="key" type="password" placeholder="paste the key printed at start"> &middot; <a href="/openapi.json">openapi.json</a></p>
<div id="ops">Loading /openapi.json…</div></main>
<script>
const esc=s=>String(s??'').replace(/[&<>"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
fetch('/openapi.json').then(r=>r.json()).then(doc=>{
 document.getElementById('desc').textContent=doc.info.description||'';
 const byTag={};
 for(const [path,item] of Object.entries(doc.paths))for(const [m,op] of Object.entries(item)){
  if(!['get','post','put','patch','delete'].includes(m))continue;
  const t=(op.tags&&op.tags[0])||'other';(byTag[t]=byTag[t]||[]).push({path,m,op});}
 const out=[];let n=0;
 for(const tag of (doc.tags||[]).map(t=>t.name).concat(Object.keys(byTag)).filter((v,i,a)=>a.indexOf(v)===i)){
  if(!byTag[tag])continue;out.push(`<div class="tag">${esc(tag)}</div>`);
  for(const {path,m,op} of byTag[tag]){n++;
   const ps=(op.parameters||[]).map(p=>`<tr><td>${esc(p.name)}</td><td>${esc(p.in)}</td><td>${esc(p.description||'')}</td><td><input data-in="${esc(p.in)}" data-name="${esc(p.name)}"></td></tr>`).join('');
   const rs=Object.entries(op.responses||{}).map(([c,r])=>`<tr><td>${esc(c)}</td><td colspan=3>${esc(r.description)}</td></tr>`).join('');
   out.push(`<details id="op${n}"><summary><span class="m ${m}">${m.toUpperCase()}</span>${esc(path)} — ${esc(op.summary||'')}</summary><div class="body">
   <p>${esc(op.description||'')}</p>${ps?`<table><tr><th>parameter</th><th>in</th><th>description</th><th>value</th></tr>${ps}</table>`:''}
   ${op.requestBody?'<p>JSON body:</p><textarea class="b"></textarea>':''}
   <table><tr><th>status</th><th colspan=3>meaning</th></tr>${rs}</table>
   <button data-path="${esc(path)}" data-m="${m}">Send</button><pre class="o" hidden></pre></div></details>`);}}
 document.getElementById('ops').innerHTML=out.join('');
 document.querySelectorAll('button[data-path]').forEach(b=>b.onclick=async()=>{
  const box=b.parentElement;let path=b.dataset.path;const q=new URLSearchParams();
  box.querySelectorAll('input[data-name]').forEach(i=>{if(!i.value)return;
   if(i.dataset.in==='path')path=path.replace('{'+i.dataset.name+'}',encodeURIComponent(i.value));
   else if(i.dataset.in==='query')for(const v of i.value.split('&&'))q.append(i.dataset.name,v);});
  const h={};const k=document.getElementById('key').value;if(k)h['Authorization']='Bearer '+k;
  const ta=box.querySelector('textarea.b');let body;if(ta&&ta.value){body=ta.value;h['Content-Type']='application/json';}
  const o=box.querySelector('pre.o');o.hidden=false;o.textContent='…';
  if(path.endsWith('/stream')){o.textContent='Open '+path+(q.toString()?'?'+q:'')+' with EventSource or curl -N';return;}
  try{const r=await fetch(path+(q.toString()?'?'+q:''),{method:b.dataset.m.toUpperCase(),headers:h,body});
   const t=await r.text();let pretty=t;try{pretty=JSON.stringify(JSON.parse(t),null,2)}catch(e){}
   o.textContent=r.status+' '+r.statusText+'\n\n'+pretty;}catch(e){o.textContent=String(e)}});
}).catch(e=>{document.getElementById('ops').textContent='Could not load /openapi.json: '+e});
</script></body></html>"#;
