// UI strings in the four languages of the command post; signal, zone and facility names come
// from the data itself (catalogue, zone files), never from here.
export const LANGS = ["zh-Hans", "zh-Hant", "pt", "en"];
export const LANG_LABEL = { "zh-Hans": "简体", "zh-Hant": "繁體", pt: "Português", en: "English" };

const S = {
  title: ["横琴三防指挥部", "橫琴三防指揮部", "Posto de Comando de Hengqin", "Hengqin command post"],
  subtitle: ["台风协调与预警发布", "颱風協調與預警發布", "Coordenação de tufões e alertas", "Typhoon coordination and alerts"],
  signin: ["登录", "登入", "Entrar", "Sign in"],
  signout: ["退出", "登出", "Sair", "Sign out"],
  token: ["访问令牌", "存取權杖", "Token de acesso", "Access token"],
  token_ph: ["粘贴 API 令牌", "貼上 API 權杖", "cole o token da API", "paste an API token"],
  remember: ["在此电脑上记住", "在此電腦上記住", "Lembrar neste computador", "Remember on this computer"],
  bad_token: ["令牌无效或已撤销", "權杖無效或已撤銷", "Token inválido ou revogado", "Invalid or revoked token"],
  demo_tokens: ["演示令牌（仅演示模式）", "示範權杖（僅示範模式）", "Tokens de demonstração (só em modo demo)", "Demo tokens (demo mode only)"],
  use: ["使用", "使用", "Usar", "Use"],
  running: ["运行状态", "運行狀態", "O que está a correr", "What is running"],
  live: ["实时", "即時", "Em directo", "Live"],
  connecting: ["连接中…", "連線中…", "A ligar…", "Connecting…"],
  reconnecting: ["重新连接中", "重新連線中", "A religar", "Reconnecting"],
  offline: ["已断开", "已斷線", "Desligado", "Offline"],
  updated_ago: ["{n} 秒前更新", "{n} 秒前更新", "actualizado há {n} s", "updated {n} s ago"],
  wall: ["大屏", "大屏", "Parede", "Wall"],
  desk: ["桌面", "桌面", "Secretária", "Desk"],
  macau: ["澳门 · 地球物理暨气象局", "澳門 · 地球物理暨氣象局", "Macau · SMG", "Macau · SMG"],
  mainland: ["内地 · 珠海市气象台", "內地 · 珠海市氣象台", "Interior da China · Zhuhai", "Mainland · Zhuhai"],
  response: ["应急响应级别", "應急響應級別", "Nível de resposta", "Response level"],
  no_signal: ["无信号", "無信號", "Sem sinal", "No signal"],
  no_response: ["未启动", "未啟動", "Não activado", "Not activated"],
  since: ["自 {t} 起", "自 {t} 起", "desde {t}", "since {t}"],
  for_dur: ["已持续 {d}", "已持續 {d}", "há {d}", "for {d}"],
  h: ["小时", "小時", "h", "h"], min: ["分钟", "分鐘", "min", "min"],
  map: ["横琴地图", "橫琴地圖", "Mapa de Hengqin", "Hengqin map"],
  map_missing: ["地图库未安装：请运行 make install（或在 emergency/web 中运行 npm ci）。", "地圖庫未安裝：請運行 make install（或在 emergency/web 中運行 npm ci）。", "Biblioteca do mapa não instalada: execute make install (ou npm ci em emergency/web).", "Map library not installed: run make install (or npm ci in emergency/web)."],
  map_approx: ["区域为近似示意，非测绘边界", "區域為近似示意，非測繪邊界", "Zonas aproximadas, não topográficas", "Zones are approximate, not surveyed"],
  lg_evac: ["疏散区", "疏散區", "Zona de evacuação", "Evacuation zone"],
  lg_target: ["广播目标", "廣播目標", "Alvo da difusão", "Broadcast target"],
  lg_shelter: ["避难所（入住）", "避難所（入住）", "Abrigo (ocupação)", "Shelter (occupancy)"],
  lg_hazard: ["未处理隐患", "未處理隱患", "Perigo em aberto", "Open hazard"],
  lg_crew: ["救援队", "救援隊", "Equipa de socorro", "Rescue crew"],
  lg_group: ["巡查组", "巡查組", "Grupo de inspecção", "Inspection group"],
  lg_facility: ["设施", "設施", "Instalação", "Facility"],
  counters: ["工作数据", "工作數據", "Números", "Figures"],
  c_sent: ["已发送短信", "已發送短訊", "Mensagens enviadas", "Messages sent"],
  c_delivered: ["已送达", "已送達", "Entregues", "Delivered"],
  c_failed: ["失败", "失敗", "Falhadas", "Failed"],
  c_groups: ["巡查组", "巡查組", "Grupos de inspecção", "Inspection groups"],
  c_person_trips: ["巡查人次", "巡查人次", "Viagens de pessoas", "Person-trips"],
  c_vehicle_trips: ["出动车次", "出動車次", "Viagens de viaturas", "Vehicle-trips"],
  c_evacuated: ["已转移人员", "已轉移人員", "Pessoas evacuadas", "People evacuated"],
  c_crews: ["驻岛待命队伍", "駐島待命隊伍", "Equipas de prevenção", "Crews on standby"],
  c_crew_people: ["待命人员", "待命人員", "Pessoas de prevenção", "People on standby"],
  c_vulnerable: ["已联系重点人群", "已聯繫重點人群", "Vulneráveis contactados", "Vulnerable reached"],
  c_hazards: ["未处理隐患", "未處理隱患", "Perigos em aberto", "Open hazards"],
  c_reports: ["现场报告", "現場報告", "Relatórios de campo", "Field reports"],
  broadcasts: ["预警短信发布", "預警短訊發布", "Difusões de alerta", "Broadcasts"],
  no_broadcasts: ["暂无广播", "暫無廣播", "Nenhuma difusão", "No broadcasts"],
  rate_chart: ["送达速率（条/秒）", "送達速率（條/秒）", "Ritmo de entrega (msg/s)", "Delivery rate (msg/s)"],
  recipients: ["接收人", "接收人", "destinatários", "recipients"],
  eta: ["预计剩余 {d}", "預計剩餘 {d}", "faltam {d}", "ETA {d}"],
  exercise: ["演习", "演習", "Exercício", "Exercise"],
  by: ["由 {n}", "由 {n}", "por {n}", "by {n}"],
  st_draft: ["草稿", "草稿", "Rascunho", "Draft"],
  st_awaiting_approval: ["待批准", "待批准", "Aguarda aprovação", "Awaiting approval"],
  st_scheduled: ["已排程", "已排程", "Agendada", "Scheduled"],
  st_sending: ["发送中", "發送中", "A enviar", "Sending"],
  st_completed: ["已完成", "已完成", "Concluída", "Completed"],
  st_cancelled: ["已取消", "已取消", "Cancelada", "Cancelled"],
  st_rejected: ["已驳回", "已駁回", "Rejeitada", "Rejected"],
  facilities: ["重点设施", "重點設施", "Instalações", "Facilities"],
  field: ["现场", "現場", "Terreno", "Field"],
  shelters: ["避难场所", "避難場所", "Abrigos", "Shelters"],
  open: ["开放", "開放", "Aberto", "Open"], closed: ["关闭", "關閉", "Fechado", "Closed"],
  hazards: ["隐患", "隱患", "Perigos", "Hazards"],
  overdue: ["逾期", "逾期", "em atraso", "overdue"],
  reports: ["现场报告", "現場報告", "Relatórios", "Reports"],
  evac_orders: ["疏散令", "疏散令", "Ordens de evacuação", "Evacuation orders"],
  mandatory: ["强制", "強制", "obrigatória", "mandatory"], advised: ["建议", "建議", "aconselhada", "advised"],
  crews: ["救援队伍", "救援隊伍", "Equipas", "Crews"],
  cs_standby: ["待命", "待命", "prevenção", "standby"], cs_deployed: ["出动", "出動", "em missão", "deployed"],
  cs_resting: ["休整", "休整", "descanso", "resting"], cs_released: ["解散", "解散", "dispensada", "released"],
  vulnerable: ["重点人群", "重點人群", "Residentes vulneráveis", "Vulnerable residents"],
  vs_reached: ["已联系", "已聯繫", "contactados", "reached"], vs_not_reached: ["未联系上", "未聯繫上", "sem contacto", "not reached"],
  vs_needs_help: ["需要帮助", "需要幫助", "precisam de ajuda", "need help"], vs_unknown: ["待联系", "待聯繫", "por contactar", "to contact"],
  log: ["事件记录", "事件記錄", "Registo de eventos", "Event log"],
  liaison: ["琴澳联络", "琴澳聯絡", "Ligação com Macau", "Macau liaison"],
  no_liaison: ["暂无联络记录", "暫無聯絡記錄", "Sem registos", "Nothing logged"],
  escalated: ["已升级处理", "已升級處理", "escalado", "escalated"],
  follow_ups: ["待跟进来电", "待跟進來電", "chamadas a seguir", "follow-ups"],
  acked: ["已确认", "已確認", "confirmado", "acknowledged"], not_acked: ["待确认", "待確認", "por confirmar", "awaiting ack"],
  feeds: ["信号来源", "信號來源", "Fontes", "Feeds"],
  fs_ok: ["正常", "正常", "ok", "ok"], fs_failing: ["出错", "出錯", "com erros", "failing"], fs_stale: ["已失联", "已失聯", "sem dados", "STALE"],
  fs_disabled: ["停用", "停用", "desligada", "off"], fs_never: ["未轮询", "未輪詢", "sem resposta", "not polled"],
  prompts: ["待办决定", "待辦決定", "Decisões pendentes", "Decisions to take"],
  no_prompts: ["没有待办事项", "沒有待辦事項", "Nada pendente", "Nothing to decide"],
  done: ["已处理", "已處理", "Feito", "Done"], dismiss: ["忽略", "忽略", "Dispensar", "Dismiss"],
  rule: ["规则", "規則", "Regra", "Rule"],
  approvals: ["待批准广播", "待批准廣播", "Aprovações pendentes", "Approval queue"],
  no_approvals: ["没有待批准的广播", "沒有待批准的廣播", "Nada para aprovar", "Nothing to approve"],
  approve: ["批准", "批准", "Aprovar", "Approve"], reject: ["驳回", "駁回", "Rejeitar", "Reject"],
  own_draft: ["您起草的广播须由另一人批准", "您起草的廣播須由另一人批准", "Rascunho seu: outra pessoa tem de aprovar", "Your draft: another person must approve it"],
  cancel: ["取消发送", "取消發送", "Cancelar", "Cancel"],
  confirm_cancel: ["确认取消？", "確認取消？", "Confirmar cancelamento?", "Really cancel?"],
  signal_form: ["发布/解除信号", "發布/解除信號", "Içar ou arriar sinal", "Raise or lower a signal"],
  source: ["来源", "來源", "Origem", "Source"], kind: ["类别", "類別", "Tipo", "Kind"], level: ["级别", "級別", "Nível", "Level"],
  note: ["备注", "備註", "Nota", "Note"],
  raise: ["发布/更改", "發布/更改", "Içar / mudar", "Raise / change"],
  lower: ["解除", "解除", "Arriar", "Lower"],
  confirm: ["确认", "確認", "Confirmar", "Confirm"], back: ["返回", "返回", "Voltar", "Back"],
  confirm_signal: ["确认发布：{s}？规则将随之执行。", "確認發布：{s}？規則將隨之執行。", "Confirmar {s}? As regras serão aplicadas.", "Confirm {s}? The rules will act on it."],
  confirm_lower: ["确认解除：{s}？", "確認解除：{s}？", "Confirmar arriar {s}?", "Confirm lowering {s}?"],
  compose: ["编写预警广播", "編寫預警廣播", "Compor difusão", "Compose a broadcast"],
  template: ["模板", "模板", "Modelo", "Template"], none: ["（无）", "（無）", "(nenhum)", "(none)"],
  text_in: ["{l} 文本", "{l} 文本", "Texto {l}", "{l} text"],
  zones: ["区域", "區域", "Zonas", "Zones"],
  draw: ["在地图上画多边形", "在地圖上畫多邊形", "Desenhar polígono no mapa", "Draw a polygon on the map"],
  drawing: ["点击地图添加顶点，点击第一个点或“完成”闭合", "點擊地圖添加頂點，點擊第一個點或「完成」閉合", "Clique no mapa para os vértices; clique no primeiro ou em Concluir", "Click the map to add points; click the first point or Finish to close"],
  finish: ["完成", "完成", "Concluir", "Finish"], clear: ["清除", "清除", "Limpar", "Clear"],
  polygon_set: ["多边形：{n} 个顶点", "多邊形：{n} 個頂點", "Polígono: {n} vértices", "Polygon: {n} points"],
  channels: ["渠道", "渠道", "Canais", "Channels"], sms: ["短信", "短訊", "SMS", "SMS"], push: ["网页推送", "網頁推送", "Push web", "Web push"],
  send_at: ["定时发送（澳门时间，留空即时）", "定時發送（澳門時間，留空即時）", "Enviar às (hora de Macau; vazio = já)", "Send at (Macau time; empty = now)"],
  preview: ["预览", "預覽", "Pré-visualizar", "Preview"], send: ["发送", "發送", "Enviar", "Send"],
  confirm_send_live: ["确认正式发送给 {n} 人", "確認正式發送給 {n} 人", "Confirmar envio REAL a {n} pessoas", "Confirm LIVE send to {n} people"],
  confirm_send_ex: ["确认发送演习给 {n} 人", "確認發送演習給 {n} 人", "Confirmar EXERCÍCIO a {n} pessoas", "Confirm EXERCISE send to {n} people"],
  needs_approval: ["超过 {n} 人：须第二人批准", "超過 {n} 人：須第二人批准", "Mais de {n}: precisa de aprovação", "Over {n}: needs a second person's approval"],
  segments: ["短信段数", "短訊段數", "Segmentos", "Segments"], cost: ["费用", "費用", "Custo", "Cost"],
  language: ["语言", "語言", "Língua", "Language"], total: ["合计", "合計", "Total", "Total"],
  sent_ok: ["已提交：广播 #{id}，状态 {s}", "已提交：廣播 #{id}，狀態 {s}", "Submetida: difusão #{id}, {s}", "Submitted: broadcast #{id}, {s}"],
  need_target: ["请选择区域或画多边形", "請選擇區域或畫多邊形", "Escolha zonas ou desenhe um polígono", "Choose zones or draw a polygon"],
  need_text: ["请至少填写一种语言的文本", "請至少填寫一種語言的文本", "Escreva o texto em pelo menos uma língua", "Write the text in at least one language"],
  not_available: ["此功能的接口尚未上线", "此功能的接口尚未上線", "Esta função ainda não está disponível", "This function's API is not available yet"],
  chars: ["{c} 字 · {s} 段", "{c} 字 · {s} 段", "{c} car. · {s} seg.", "{c} chars · {s} seg."],
  role: ["角色", "角色", "Função", "Role"],
  viewer_note: ["只读：您的角色不能操作", "唯讀：您的角色不能操作", "Só leitura: a sua função não pode agir", "Read-only: your role cannot act"],
  error: ["错误", "錯誤", "Erro", "Error"],
  ev_raise: ["发布", "發布", "içado", "raised"], ev_upgrade: ["升级为", "升級為", "subiu para", "upgraded to"],
  ev_downgrade: ["降级为", "降級為", "desceu para", "downgraded to"], ev_change: ["改为", "改為", "mudou para", "changed to"],
  ev_lower: ["解除", "解除", "arriado", "lowered"],
  // field report kinds, hazard kinds, and what happened to them (event log)
  k_check_in: ["巡查签到", "巡查簽到", "entrada de patrulha", "patrol check-in"], k_check_out: ["巡查签退", "巡查簽退", "saída de patrulha", "patrol check-out"],
  k_hazard: ["隐患", "隱患", "perigo", "hazard"], k_rectified: ["已整改", "已整改", "corrigido", "rectified"],
  k_evacuated: ["转移", "轉移", "evacuação", "evacuation"], k_crew_status: ["队伍状态", "隊伍狀態", "estado da equipa", "crew status"],
  k_help: ["求助", "求助", "pedido de ajuda", "request for help"], k_resident_check: ["重点人员探访", "重點人員探訪", "visita a residente", "resident check"],
  k_fallen_tree: ["倒树", "倒樹", "árvore caída", "fallen tree"], k_flooding: ["水浸", "水浸", "inundação", "flooding"],
  k_loose_object: ["松脱物件", "鬆脫物件", "objecto solto", "loose object"], k_damaged_structure: ["受损结构", "受損結構", "estrutura danificada", "damaged structure"],
  k_power_line: ["电线", "電線", "linha eléctrica", "power line"], k_landslide: ["山泥倾泻", "山泥傾瀉", "deslizamento", "landslide"],
  k_blocked_road: ["道路阻塞", "道路阻塞", "estrada bloqueada", "blocked road"], k_construction_site: ["工地", "工地", "obra", "construction site"],
  k_group: ["巡查组", "巡查組", "grupo", "group"], k_trip: ["巡查", "巡查", "patrulha", "patrol"],
  k_created: ["已建立", "已建立", "criado", "created"], k_checked_in: ["出发", "出發", "iniciada", "started"], k_checked_out: ["结束", "結束", "terminada", "ended"],
  k_started: ["开始发送", "開始發送", "a enviar", "started"], k_approved: ["已批准", "已批准", "aprovada", "approved"],
  k_cancelled: ["已取消", "已取消", "cancelada", "cancelled"], k_completed: ["已完成", "已完成", "concluída", "completed"],
  k_scheduled: ["已排程", "已排程", "agendada", "scheduled"],
  k_rule: ["规则通知", "規則通知", "aviso de regra", "rule notice"], k_manual: ["人工通知", "人工通知", "aviso manual", "manual notice"],
  k_reported: ["已报告", "已報告", "comunicado", "reported"], k_assigned: ["已派工", "已派工", "atribuído", "assigned"], k_verified: ["已验收", "已驗收", "verificado", "verified"],
};

const idx = { "zh-Hans": 0, "zh-Hant": 1, pt: 2, en: 3 };
let current = "en";

export function setLang(lang) { current = idx[lang] === undefined ? "en" : lang; document.documentElement.lang = current; }
export function lang() { return current; }

/** The UI string `key` in the current language, with {name} placeholders filled. */
/** A data word (report kind, hazard kind, action) in the current language, else as it is. */
export function word(value) { return value && S[`k_${value}`] ? t(`k_${value}`) : (value || ""); }

export function t(key, vars) {
  const row = S[key];
  let text = row ? row[idx[current]] : key;
  if (vars) for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`{${k}}`, v);
  return text;
}

/** A name given per language (catalogue, zones, facilities): current, then Chinese/English. */
export function pick(names, fallback = "") {
  if (!names) return fallback;
  if (typeof names === "string") return names;
  const alt = current.startsWith("zh") ? ["zh-Hant", "zh-Hans", "en"] : ["en", "pt", "zh-Hant"];
  for (const l of [current, ...alt]) if (names[l]) return names[l];
  return Object.values(names)[0] || fallback;
}

export function fmtNum(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "—";
  return new Intl.NumberFormat(current).format(n);
}

const timeFmt = {};
export function fmtTime(iso, withDate = false) {
  if (!iso) return "—";
  const d = iso instanceof Date ? iso : new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  const key = current + withDate;
  timeFmt[key] ||= new Intl.DateTimeFormat(current, {
    timeZone: "Asia/Macau", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    ...(withDate ? { month: "2-digit", day: "2-digit" } : {}),
  });
  return timeFmt[key].format(d);
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  if (h) return `${h} ${t("h")} ${m} ${t("min")}`;
  if (m) return `${m} ${t("min")}`;
  return `${s} s`;
}

/** Apply data-i18n / data-i18n-ph attributes of static markup. */
export function translateStatic(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-ph]")) el.placeholder = t(el.dataset.i18nPh);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}
