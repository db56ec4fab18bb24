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
  run_version: ["版本", "版本", "Versão", "Version"],
  run_database: ["数据库", "資料庫", "Base de dados", "Database"],
  run_bus: ["事件总线", "事件匯流排", "Barramento de eventos", "Event bus"],
  run_in_process: ["进程内", "程序內", "no próprio processo", "in-process"],
  run_worker: ["短信发送进程", "短訊發送程序", "Processo de envio", "Dispatch worker"],
  run_scheduler: ["定时任务", "定時任務", "Agendador", "Scheduler"],
  run_embedded: ["内置", "內置", "integrado", "embedded"],
  run_separate: ["独立进程", "獨立程序", "processo separado", "separate process"],
  run_sms: ["短信服务商", "短訊供應商", "Fornecedor de SMS", "SMS provider"],
  run_sms_console: ["控制台（无凭据：不会真正发出）", "控制台（無憑證：不會真正發出）", "consola (sem credenciais: nada é enviado)", "console (no credentials: nothing is sent)"],
  run_demo: ["演示数据", "示範數據", "Dados de demonstração", "Demo data"],
  run_map: ["地图库", "地圖庫", "Biblioteca do mapa", "Map library"],
  run_map_missing: ["未安装：请运行 make install", "未安裝：請運行 make install", "em falta: execute make install", "missing: run make install"],
  yes: ["是", "是", "sim", "yes"], no: ["否", "否", "não", "no"],
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
  h: ["小时", "小時", "h", "h"], min: ["分钟", "分鐘", "min", "min"], sec: ["秒", "秒", "s", "s"],
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
  recipients: ["接收人", "接收人", "destinatários", "recipients"], recipients_h: ["接收人", "接收人", "Destinatários", "Recipients"],
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
  // a dispatch worker sending without Redis (its share of the SMS rate), and back
  dispatch_degraded: ["短信：Redis 不可用，按本机份额发送", "短訊：Redis 不可用，按本機份額發送", "SMS: Redis indisponível, a enviar à quota deste processo", "SMS: Redis unreachable, sending at this worker's share"],
  dispatch_restored: ["短信：Redis 已恢复", "短訊：Redis 已恢復", "SMS: Redis de volta", "SMS: Redis is back"],
  dispatch_gone: ["短信：发送进程已失联，不再列为降级", "短訊：發送程序已失聯，不再列為降級", "SMS: processo de envio sem notícias, já não listado como degradado", "SMS: worker not heard of, no longer listed as degraded"],
  dispatch_flag: ["⚠ 短信降级", "⚠ 短訊降級", "⚠ SMS degradado", "⚠ SMS degraded"],
  dispatch_banner: ["短信降级发送：Redis 不可用，{n} 个发送进程从数据库读取并按本机份额发送（共 {r} 条/秒）。警报仍会发出，但较慢。", "短訊降級發送：Redis 不可用，{n} 個發送程序從資料庫讀取並按本機份額發送（共 {r} 條/秒）。警報仍會發出，但較慢。", "SMS em modo degradado: Redis indisponível, {n} processo(s) de envio leem da base de dados e enviam à sua quota ({r}/s no total). Os alertas continuam a sair, mais devagar.", "SMS degraded: Redis unreachable, {n} worker(s) reading from the database and sending at their own share of the rate ({r}/s in all). Alerts still go out, more slowly."],
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
  k_raised: ["已发出", "已發出", "dado", "raised"], k_acknowledged: ["已确认", "已確認", "confirmado", "acknowledged"],
  k_assigned: ["已派队", "已派隊", "equipa enviada", "crew sent"], k_closed: ["已关闭", "已關閉", "fechado", "closed"],
  k_escalated: ["已升级处理", "已升級處理", "escalado", "escalated"],
  k_rule: ["规则通知", "規則通知", "aviso de regra", "rule notice"], k_manual: ["人工通知", "人工通知", "aviso manual", "manual notice"],
  // sign-in
  name: ["用户名", "用戶名", "Nome", "Name"], password: ["密码", "密碼", "Palavra-passe", "Password"],
  signin_password: ["用户名和密码登录", "用戶名和密碼登入", "Entrar com nome e palavra-passe", "Sign in with name and password"],
  or_token: ["或使用 API 令牌（大屏、脚本）", "或使用 API 權杖（大屏、腳本）", "Ou um token da API (ecrã de parede, scripts)", "Or an API token (wall screens, scripts)"],
  wrong_password: ["用户名或密码错误", "用戶名或密碼錯誤", "Nome ou palavra-passe errados", "Wrong name or password"],
  session_ended: ["登录已过期，请重新登录", "登入已過期，請重新登入", "A sessão terminou: entre de novo", "Your session has ended: sign in again"],
  demo_users: ["演示用户（仅演示模式），密码：{p}", "示範用戶（僅示範模式），密碼：{p}", "Utilizadores de demonstração (só modo demo), palavra-passe: {p}", "Demo users (demo mode only), password: {p}"],
  too_many: ["尝试次数过多，请稍后再试", "嘗試次數過多，請稍後再試", "Demasiadas tentativas: espere um pouco", "Too many attempts: wait a little"],
  // actions
  working: ["处理中…", "處理中…", "A tratar…", "Working…"], done_ok: ["完成", "完成", "Feito", "Done"],
  no_connection: ["无法连接服务器，可再试一次（不会重复执行）", "無法連接伺服器，可再試一次（不會重複執行）", "sem ligação ao servidor; pode tentar de novo (não repete)", "no connection to the server; try again (it will not act twice)"],
  signed_out: ["登录已失效，请重新登录", "登入已失效，請重新登入", "Sessão terminada: entre de novo", "Signed out: sign in again"],
  not_allowed: ["您的角色不能执行此操作", "您的角色不能執行此操作", "a sua função não pode fazer isto", "your role may not do this"],
  no_change: ["没有变化", "沒有變化", "Sem alteração", "No change"],
  choose: ["（请选择）", "（請選擇）", "(escolher)", "(choose)"],
  work: ["工作台", "工作台", "Trabalho", "Work"],
  people: ["人", "人", "pessoas", "people"], n_people: ["{n} 人", "{n} 人", "{n} pessoas", "{n} people"],
  status: ["状态", "狀態", "Estado", "Status"], label: ["名称", "名稱", "Nome", "Label"], team: ["队伍", "隊伍", "Equipa", "Team"],
  // alarms
  alarms: ["警报", "警報", "Alarmes", "Alarms"],
  alarm_help: ["求助", "求助", "Pedido de socorro", "Help request"], alarm_hazard: ["危急险情", "危急險情", "Perigo crítico", "Critical hazard"],
  unknown_place: ["位置不明", "位置不明", "local desconhecido", "place unknown"],
  al_open: ["未确认", "未確認", "Por confirmar", "Not acknowledged"],
  al_escalated: ["已短信通知值班领导", "已短訊通知值班領導", "SMS enviado aos chefes de serviço", "SMS sent to the duty leads"],
  al_acked_by: ["{n} 已确认（{t}）", "{n} 已確認（{t}）", "Confirmado por {n} ({t})", "Acknowledged by {n} ({t})"],
  al_assigned_to: ["已派 {n}", "已派 {n}", "Equipa {n} a caminho", "Crew {n} assigned"],
  al_closed: ["已关闭", "已關閉", "Fechado", "Closed"],
  al_waiting: ["{n} 条未确认", "{n} 條未確認", "{n} por confirmar", "{n} not acknowledged"],
  n_more_alarms: ["另有 {n} 条警报", "另有 {n} 條警報", "mais {n} alarmes", "{n} more alarms"],
  ago: ["{d}前", "{d}前", "há {d}", "{d} ago"],
  acknowledge: ["确认收到", "確認收到", "Confirmar", "Acknowledge"],
  crew: ["救援队", "救援隊", "Equipa", "Crew"], choose_crew: ["选择救援队", "選擇救援隊", "Escolha uma equipa", "Choose a crew"],
  assign_crew: ["派出救援队", "派出救援隊", "Enviar equipa", "Assign crew"],
  close_note: ["处理结果", "處理結果", "Resultado", "Outcome"], close_alarm: ["关闭警报", "關閉警報", "Fechar alarme", "Close alarm"],
  confirm_close_alarm: ["关闭警报 #{id}？关闭后不能重开。", "關閉警報 #{id}？關閉後不能重開。", "Fechar o alarme n.º {id}? Não pode ser reaberto.", "Close alarm #{id}? It cannot be reopened."],
  sound_on: ["警报声已开", "警報聲已開", "Som ligado", "Sound on"], sound_off: ["开启警报声", "開啟警報聲", "Ligar o som", "Turn sound on"],
  lg_alarm: ["警报（求助、危急险情）", "警報（求助、危急險情）", "Alarme (socorro, perigo crítico)", "Alarm (help, critical hazard)"],
  lg_bridge: ["桥梁", "橋樑", "Ponte", "Bridge"],
  role_admin: ["管理员", "管理員", "administrador", "admin"], role_operator: ["值班员", "值班員", "operador", "operator"],
  role_approver: ["审批人", "審批人", "aprovador", "approver"], role_liaison: ["联络员", "聯絡員", "ligação", "liaison"],
  role_field: ["现场", "現場", "campo", "field"], role_viewer: ["观察员", "觀察員", "observador", "viewer"],
  lg_cluster: ["多个标记（点击展开）", "多個標記（點擊展開）", "Vários marcadores (clique)", "Several markers (click)"],
  // screens
  sc_liaison: ["联络台", "聯絡台", "Ligação", "Liaison desk"],
  notices_waiting: ["待确认通知", "待確認通知", "Avisos por confirmar", "Notices to acknowledge"],
  none_waiting: ["没有待办", "沒有待辦", "Nada pendente", "Nothing waiting"],
  ack_desk: ["联络台确认", "聯絡台確認", "Confirmado pela ligação", "Acknowledged by the desk"],
  ack_by_phone: ["电话确认", "電話確認", "Por telefone", "By phone"], who_confirmed: ["谁确认", "誰確認", "Quem confirmou", "Who confirmed"],
  log_call: ["登记热线来电", "登記熱線來電", "Registar chamada", "Log a hotline call"],
  direction: ["方向", "方向", "Sentido", "Direction"], call_in: ["来电", "來電", "Recebida", "Inbound"], call_out: ["去电", "去電", "Feita", "Outbound"],
  contact: ["联络人", "聯絡人", "Contacto", "Contact"], caller: ["通话人", "通話人", "Interlocutor", "Caller"], summary: ["内容摘要", "內容摘要", "Resumo", "Summary"],
  follow_up: ["待跟进事项", "待跟進事項", "Seguimento", "Follow-up"], call_logged: ["已登记来电 #{id}", "已登記來電 #{id}", "Chamada n.º {id} registada", "Call #{id} logged"],
  follow_up_done: ["跟进完成", "跟進完成", "Seguimento feito", "Follow-up done"],
  confirm_follow_up: ["标记此跟进为完成？", "標記此跟進為完成？", "Marcar o seguimento como feito?", "Mark this follow-up as done?"],
  choose_team: ["选择队伍", "選擇隊伍", "Escolha a equipa", "Choose a team"], assign: ["派工", "派工", "Atribuir", "Assign"],
  send_back: ["退回重做", "退回重做", "Devolver", "Send back"], mark_rectified: ["已整改", "已整改", "Corrigido", "Rectified"], verify: ["验收", "驗收", "Verificar", "Verify"],
  confirm_rectified: ["确认隐患 #{id} 已整改？", "確認隱患 #{id} 已整改？", "Confirmar que o perigo n.º {id} foi corrigido?", "Confirm hazard #{id} is rectified?"],
  confirm_verify: ["验收隐患 #{id}？验收后即结案。", "驗收隱患 #{id}？驗收後即結案。", "Verificar o perigo n.º {id}? Fica encerrado.", "Verify hazard #{id}? It is then closed for good."],
  sv_critical: ["危急", "危急", "crítico", "critical"], sv_high: ["高", "高", "alto", "high"], sv_medium: ["中", "中", "médio", "medium"], sv_low: ["低", "低", "baixo", "low"],
  due: ["期限", "期限", "prazo", "due"],
  choose_zone: ["选择区域", "選擇區域", "Escolha a zona", "Choose a zone"], issue_order: ["发布疏散令", "發布疏散令", "Emitir ordem de evacuação", "Issue an evacuation order"],
  confirm_order: ["对 {z} 发布{l}疏散令？居民将被要求撤离。", "對 {z} 發布{l}疏散令？居民將被要求撤離。", "Emitir ordem {l} para {z}? Os residentes terão de sair.", "Issue a {l} evacuation order for {z}? Residents will be told to leave."],
  order_issued: ["已对 {z} 发布疏散令", "已對 {z} 發布疏散令", "Ordem emitida para {z}", "Order issued for {z}"],
  broadcast_n: ["广播 #{id}", "廣播 #{id}", "difusão n.º {id}", "broadcast #{id}"],
  compose_order_broadcast: ["编写 {z} 的疏散广播", "編寫 {z} 的疏散廣播", "Compor a difusão da evacuação de {z}", "Compose the evacuation broadcast for {z}"],
  lift_order: ["解除疏散令", "解除疏散令", "Levantar ordem", "Lift the order"],
  confirm_lift: ["解除 {z} 的疏散令？", "解除 {z} 的疏散令？", "Levantar a ordem de evacuação de {z}?", "Lift the evacuation order for {z}?"],
  nearest_shelter: ["最近的开放避难所", "最近的開放避難所", "o abrigo aberto mais próximo", "the nearest open shelter"],
  order_lifted_z: ["已解除 {z} 的疏散令", "已解除 {z} 的疏散令", "Ordem de {z} levantada", "Order for {z} lifted"],
  order_lifted: ["已解除", "已解除", "Levantada", "Lifted"],
  close_shelter: ["关闭避难所", "關閉避難所", "Fechar abrigo", "Close shelter"], open_shelter: ["开放避难所", "開放避難所", "Abrir abrigo", "Open shelter"],
  confirm_close_shelter: ["关闭 {s}？之后不再接收人员。", "關閉 {s}？之後不再接收人員。", "Fechar {s}? Deixa de receber pessoas.", "Close {s}? It will take nobody more."],
  occupancy: ["入住人数", "入住人數", "Ocupação", "Occupancy"], set_occupancy: ["更新入住", "更新入住", "Actualizar ocupação", "Set occupancy"],
  all_standby: ["全部队伍待命", "全部隊伍待命", "Todas as equipas de prevenção", "All crews to standby"],
  confirm_all_standby: ["所有已解散的队伍转为待命？", "所有已解散的隊伍轉為待命？", "Pôr todas as equipas de prevenção?", "Put every released crew on standby?"],
  n_changed: ["{n} 支队伍已变更", "{n} 支隊伍已變更", "{n} equipas mudaram", "{n} crews changed"],
  set_status: ["更改状态", "更改狀態", "Mudar estado", "Set status"],
  confirm_release: ["解散 {n}？", "解散 {n}？", "Dispensar {n}?", "Release {n}?"],
  task: ["任务", "任務", "Tarefa", "Task"], add_task: ["派任务", "派任務", "Dar tarefa", "Add task"], task_added: ["已派任务", "已派任務", "Tarefa atribuída", "Task added"],
  confirm_task_done: ["标记此任务完成？", "標記此任務完成？", "Marcar a tarefa como feita?", "Mark this task done?"],
  override_hint: ["人工改变设施状态会覆盖规则的延时动作，请写明原因。", "人工改變設施狀態會覆蓋規則的延時動作，請寫明原因。", "Mudar uma instalação à mão prevalece sobre as acções diferidas das regras: diga porquê.", "A person's change overrides the rules' delayed actions: give the reason."],
  reason: ["原因（必填）", "原因（必填）", "Motivo (obrigatório)", "Reason (required)"], override: ["人工更改", "人工更改", "Alterar", "Override"],
  need_reason: ["请写明原因", "請寫明原因", "Indique o motivo", "Give the reason"],
  confirm_override: ["将 {f} 改为「{s}」？", "將 {f} 改為「{s}」？", "Mudar {f} para «{s}»?", "Change {f} to “{s}”?"],
  field_links: ["现场链接", "現場連結", "Ligações de campo", "Field links"], make_link: ["生成现场链接和二维码", "生成現場連結和二維碼", "Criar ligação e código QR", "Make a link and QR code"],
  qr_alt: ["{l} 的二维码", "{l} 的二維碼", "Código QR de {l}", "QR code for {l}"],
  link_once: ["此链接只显示一次：请立即扫码或打印。", "此連結只顯示一次：請立即掃碼或列印。", "A ligação só aparece agora: leia ou imprima o código.", "The link shows only now: scan or print the code."],
  link_made: ["已生成链接", "已生成連結", "Ligação criada", "Link made"], revoke: ["撤销", "撤銷", "Revogar", "Revoke"], revoked: ["已撤销", "已撤銷", "revogada", "revoked"],
  confirm_revoke: ["撤销「{l}」的链接？该手机将立即无法报告。", "撤銷「{l}」的連結？該手機將立即無法報告。", "Revogar a ligação «{l}»? O telemóvel deixa de poder relatar.", "Revoke the link “{l}”? That phone can no longer report."],
  vulnerable_private: ["个人资料：仅供联系和救援使用。", "個人資料：僅供聯繫和救援使用。", "Dados pessoais: só para contactar e socorrer.", "Personal data: for contact and rescue only."],
  record_check: ["记录探访", "記錄探訪", "Registar visita", "Record check"],
  // composer
  free_text: ["（自由文本）", "（自由文本）", "(texto livre)", "(free text)"], from_data: ["从资料选择", "從資料選擇", "Escolher dos dados", "Choose from the data"],
  fill_vars: ["还有未填的变量", "還有未填的變量", "Faltam variáveis", "Variables still empty"],
  encoding: ["编码", "編碼", "Codificação", "Encoding"], characters: ["字数", "字數", "Caracteres", "Characters"],
  eta_full: ["预计全部发出需 {d}", "預計全部發出需 {d}", "Tudo enviado em {d}", "All sent in {d}"],
  queue_ahead: ["含排在前面的 {n} 条短信，{d}", "含排在前面的 {n} 條短訊，{d}", "inclui {n} SMS na fila à frente, {d}", "including {n} SMS queued ahead, {d}"],
  queue_empty: ["前面没有排队", "前面沒有排隊", "sem fila à frente", "nothing queued ahead"],
  confirm_approve: ["批准广播 #{id}，发送给 {n} 人？", "批准廣播 #{id}，發送給 {n} 人？", "Aprovar a difusão n.º {id} para {n} pessoas?", "Approve broadcast #{id} to {n} people?"],
  confirm_reject: ["驳回广播 #{id}？", "駁回廣播 #{id}？", "Rejeitar a difusão n.º {id}?", "Reject broadcast #{id}?"],
  confirm_cancel_bc: ["取消广播 #{id} 未发出的短信？", "取消廣播 #{id} 未發出的短訊？", "Cancelar o que falta enviar da difusão n.º {id}?", "Cancel what is not sent yet of broadcast #{id}?"],
  confirm_dismiss: ["忽略此事项？", "忽略此事項？", "Dispensar esta decisão?", "Dismiss this decision?"],
  replay_leaves_yours: ["正在重演风暴「{s}」（演习）：您亲手设置的演习信号，重演不会更改或除下；其演习撤离令须由第二人批准。", "正在重演風暴「{s}」（演習）：您親手設置的演習信號，重演不會更改或除下；其演習撤離令須由第二人批准。", "Repetição da tempestade «{s}» em curso (exercício): não altera nem arria os sinais de exercício que marcou à mão; a sua ordem de evacuação de exercício espera a aprovação de uma segunda pessoa.", "A replay of storm \"{s}\" is running (a drill): it never changes or lowers drill signals you set by hand; its drill evacuation order waits for a second person's approval."],
  exercise_signal: ["演习信号（不影响正式信号）", "演習信號（不影響正式信號）", "Sinal de exercício (não o real)", "Drill signal (never the real one)"],
  // wall
  approvals_waiting: ["待批准", "待批准", "Aguardam aprovação", "Waiting for approval"],
  real_broadcasts: ["正式预警广播", "正式預警廣播", "Difusões reais", "Real broadcasts"],
  drill_line: ["演习：{b} 条广播，{n} 条联络通知，{a} 条警报", "演習：{b} 條廣播，{n} 條聯絡通知，{a} 條警報", "Exercício: {b} difusões, {n} avisos, {a} alarmes", "Drill: {b} broadcasts, {n} liaison notices, {a} alarms"],
  exercise_banner: ["演习 — 正在重演风暴「{s}」：其信号为演习级别，其广播只发给演习名单。", "演習 — 正在重演風暴「{s}」：其信號為演習級別，其廣播只發給演習名單。", "EXERCÍCIO — a repetir a tempestade «{s}»: os sinais são de exercício e as difusões só vão para a lista de exercício.", "EXERCISE — storm {s} is being replayed: its signals are drill levels, its broadcasts reach the exercise list only."],
  more_n: ["另有 {n} 项", "另有 {n} 項", "mais {n}", "{n} more"],
  live_chip: ["正式", "正式", "REAL", "LIVE"],
  // what a confirmation says first: a drill's action never reaches a real record; a real one does
  drill_says: ["演习：只记为演习，不影响真实记录", "演習：只記為演習，不影響真實記錄", "EXERCÍCIO: fica só no exercício, nunca nos registos reais", "EXERCISE: kept as a drill, never on the real records"],
  real_says: ["正式（非演习）：真实记录，居民和伙伴将收到", "正式（非演習）：真實記錄，居民和夥伴將收到", "REAL (não é exercício): registo real, residentes e parceiros serão avisados", "REAL (not a drill): a real record, residents and partners will be told"],
  n_drill_alarms: ["{n} 条演习警报（{o} 条未确认）", "{n} 條演習警報（{o} 條未確認）", "{n} alarmes do exercício ({o} por confirmar)", "{n} drill alarms ({o} not acknowledged)"],
  show: ["展开", "展開", "Mostrar", "Show"], hide: ["收起", "收起", "Esconder", "Hide"],
  k_open: ["待处理", "待處理", "aberto", "open"],
  err_illegal_transition: ["已被他人处理或状态已变，屏幕已显示最新状态", "已被他人處理或狀態已變，屏幕已顯示最新狀態", "já tratado por outra pessoa ou o estado mudou; o ecrã mostra o estado actual", "someone already changed it; the screen shows it as it is now"],
  err_conflict: ["与当前状态冲突，请刷新后再试", "與當前狀態衝突，請刷新後再試", "em conflito com o estado actual; actualize e tente de novo", "it conflicts with the current state; reload and try again"],
  err_idempotency_key_reused: ["这个操作已用另一内容提交过，请重新填写后再试", "這個操作已用另一內容提交過，請重新填寫後再試", "esta acção já foi enviada com outro conteúdo; preencha de novo", "this action was already sent with other content; fill it in again"],
  err_csrf_failed: ["登录已过期，请重新登录", "登入已過期，請重新登入", "a sessão expirou; entre de novo", "the session has expired; sign in again"],
  err_session_expired: ["登录已过期，请重新登录", "登入已過期，請重新登入", "a sessão expirou; entre de novo", "the session has expired; sign in again"],
  err_rate_limited: ["操作太频繁，请稍候再试", "操作太頻繁，請稍候再試", "demasiados pedidos; espere um pouco", "too many requests; wait a moment and try again"],
  err_shelter_closed: ["该避难场所已关闭", "該避難場所已關閉", "o abrigo está fechado", "the shelter is closed"],
  err_exercise_mismatch: ["演习与真实记录不可混合", "演習與真實記錄不可混合", "exercício e registos reais não se misturam", "a drill and a real record cannot be mixed"],
  n_awaiting_you: ["{n} 条广播等待您批准", "{n} 條廣播等待您批准", "Difusões à espera da sua aprovação: {n}", "Broadcasts awaiting your approval: {n}"],
  go_approve: ["前往批准", "前往批准", "Ir aprovar", "Go to approve"],
  choose_found: ["选择联络结果", "選擇聯絡結果", "Escolha o resultado do contacto", "Choose what the check found"],
  send_at_past: ["发送时间已过：留空即立即发送，或选一个将来的时间（澳门时间）", "發送時間已過：留空即立即發送，或選一個將來的時間（澳門時間）", "A hora de envio já passou: deixe vazio para enviar já, ou escolha uma hora futura (hora de Macau)", "The send time has passed: leave it empty to send now, or choose a later time (Macau time)"],
  check_input: ["请检查输入的内容", "請檢查輸入的內容", "Verifique o que escreveu", "Check what you entered"],
  bad_occupancy: ["入住人数须为 0 或以上的整数", "入住人數須為 0 或以上的整數", "A ocupação é um número inteiro, 0 ou mais", "Occupancy is a whole number, 0 or more"],
  confirm_over_capacity: ["{s}：{n} 人超过容量 {c}，确认？", "{s}：{n} 人超過容量 {c}，確認？", "{s}: {n} pessoas é mais do que a capacidade {c}. Confirmar?", "{s}: {n} people is more than its capacity of {c}. Confirm?"],
  no_crew_ready: ["没有待命或已出动的救援队：先在「救援队」页设为待命", "沒有待命或已出動的救援隊：先在「救援隊」頁設為待命", "Nenhuma equipa de prevenção ou no terreno: ponha uma de prevenção em Equipas", "No crew on standby or deployed: put one on standby under Crews"],
  k_reported: ["已报告", "已報告", "comunicado", "reported"], k_assigned: ["已派工", "已派工", "atribuído", "assigned"], k_verified: ["已验收", "已驗收", "verificado", "verified"],
  priority: ["优先级", "優先級", "Prioridade", "Priority"],
  pr_emergency: ["紧急", "緊急", "emergência", "emergency"],
  pr_high: ["高", "高", "alta", "high"],
  pr_normal: ["普通", "普通", "normal", "normal"],
  pr_hint: ["紧急：先于任何正在发送的批量广播发出", "緊急：先於任何正在發送的批量廣播發出", "emergência: sai antes de qualquer difusão em massa em curso", "emergency: goes out before any bulk broadcast being sent"],
  edit: ["修改", "修改", "Alterar", "Edit"],
  goes_at: ["{t} 发出", "{t} 發出", "sai às {t}", "goes out at {t}"],
  goes_on_approval: ["批准后立即发出", "批准後立即發出", "sai logo que aprovada", "goes out once approved"],
  edit_bc: ["修改广播 #{id}", "修改廣播 #{id}", "Alterar a difusão n.º {id}", "Change broadcast #{id}"],
  edit_voids: ["任何修改都会作废已有的批准：须由第二人再次批准。", "任何修改都會作廢已有的批准：須由第二人再次批准。", "Qualquer alteração anula a aprovação: uma segunda pessoa aprova de novo.", "Any change voids its approval: a second person approves it again."],
  save_changes: ["保存修改", "儲存修改", "Guardar alterações", "Save changes"],
  close: ["关闭", "關閉", "Fechar", "Close"],
  // the editor: a set time can be moved, never emptied (so no "empty = now" there)
  edit_send_at: ["定时发送（澳门时间）", "定時發送（澳門時間）", "Enviar às (hora de Macau)", "Send at (Macau time)"],
  edit_send_at_past: ["发送时间已过：请选一个将来的时间（澳门时间）", "發送時間已過：請選一個將來的時間（澳門時間）", "A hora de envio já passou: escolha uma hora futura (hora de Macau)", "The send time has passed: choose a later time (Macau time)"],
  send_at_keep: ["定好的发送时间可以更改，不能清空（要立即发送，请取消后另起草一条）", "定好的發送時間可以更改，不能清空（要立即發送，請取消後另起草一條）", "A hora marcada pode mudar, não ser apagada (para enviar já, cancele e redija outra)", "A set send time can be moved, not removed (to send now, cancel and draft a new one)"],
  nothing_changed: ["没有任何修改", "沒有任何修改", "Nada foi alterado", "Nothing was changed"],
  edit_saved: ["已保存：广播 #{id}，状态 {s}", "已儲存：廣播 #{id}，狀態 {s}", "Guardado: difusão n.º {id}, {s}", "Saved: broadcast #{id}, {s}"],
  approval_voided: ["原批准已作废，等待第二人批准", "原批准已作廢，等待第二人批准", "a aprovação foi anulada; espera uma segunda pessoa", "its approval was voided: it waits for a second person"],
  err_not_editable: ["这条广播已开始发送或已结束，不能再修改（可取消后另起草一条）", "這條廣播已開始發送或已結束，不能再修改（可取消後另起草一條）", "esta difusão já começou ou terminou: não pode ser alterada (cancele-a e redija outra)", "this broadcast has started or ended: it can no longer be changed (cancel it and draft a new one)"],
  err_not_the_drafter: ["只有起草人可以修改这条广播（可另起草一条）", "只有起草人可以修改這條廣播（可另起草一條）", "só quem a redigiu pode alterá-la (redija outra)", "only its drafter may change it (draft a new one)"],
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

/** A title given per language (message templates): the screen's language, else English. */
export function inLang(texts, fallback = "") {
  if (!texts) return fallback;
  if (typeof texts === "string") return texts;
  return texts[current] || texts.en || fallback;
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
  return `${s} ${t("sec")}`;
}

/** Apply data-i18n / data-i18n-ph attributes of static markup. */
export function translateStatic(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-ph]")) el.placeholder = t(el.dataset.i18nPh);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}
