"""The after-action report as read by superiors, in one of the four languages (`--lang`):
the report's data (emergency.report.data) turned into human words — signal, zone, shelter and
facility names from the data in that language, kinds and states in words — a summary, the key
decisions (who, when), the figures the command post reports, and liaison notices grouped."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from emergency.catalogue import LANGUAGES, Catalogue, Language
from geo.zones import ZoneSet

# key: (zh-Hans, zh-Hant, pt, en)
TEXT: dict[str, tuple[str, str, str, str]] = {
    "org": (
        "横琴粤澳深度合作区三防指挥部",
        "橫琴粵澳深度合作區三防指揮部",
        "Posto de Comando de Cheias, Secas e Tufões de Hengqin",
        "Hengqin Flood, Drought and Typhoon Command Post",
    ),
    "title": ("防风工作总结报告", "防風工作總結報告", "Relatório pós-acção", "After-action report"),
    "exercise": ("演习", "演習", "EXERCÍCIO", "EXERCISE"),
    "exercise_note": (
        "仅统计演习记录，不含任何真实数据。",
        "僅統計演習記錄，不含任何真實數據。",
        "Só os registos dos exercícios: nada de real é contado aqui.",
        "Only the drills' records: nothing real is counted here.",
    ),
    "real_note": (
        "仅统计真实记录；演习记录见演习报告（--exercise）。",
        "僅統計真實記錄；演習記錄見演習報告（--exercise）。",
        "Só registos reais: os dos exercícios estão no relatório com --exercise.",
        "Real records only: a drill's (storm replays, drill field links) are in the report with --exercise.",
    ),
    "period": (
        "报告期间：{a} 至 {b}（澳门时间）",
        "報告期間：{a} 至 {b}（澳門時間）",
        "Período: {a} a {b} (hora de Macau)",
        "Period: {a} to {b} (Macau time)",
    ),
    "from_first": ("首条记录", "首條記錄", "o primeiro registo", "the first record"),
    "generated": ("生成时间：{t}", "生成時間：{t}", "Gerado em {t}", "Generated {t}"),
    "summary": ("概要", "概要", "Resumo", "Summary"),
    "summary_signals": (
        "期间信号变更 {signal_changes} 次，最高为{top}（持续 {in_force}）。",
        "期間信號變更 {signal_changes} 次，最高為{top}（持續 {in_force}）。",
        "{signal_changes} mudanças de sinal; o mais alto foi {top} (durante {in_force}).",
        "{signal_changes} signal changes; the highest was {top} (in force {in_force}).",
    ),
    "summary_none": (
        "期间无信号变更。",
        "期間無信號變更。",
        "Nenhuma mudança de sinal.",
        "No signal changed.",
    ),
    "summary_broadcasts": (
        "发布预警广播 {broadcasts} 次，发送短信 {messages_sent} 条，送达 {messages_delivered} 条，失败 {messages_failed} 条。",
        "發布預警廣播 {broadcasts} 次，發送短訊 {messages_sent} 條，送達 {messages_delivered} 條，失敗 {messages_failed} 條。",
        "{broadcasts} difusões de alerta: {messages_sent} mensagens enviadas, {messages_delivered} entregues, {messages_failed} falhadas.",
        "{broadcasts} broadcasts: {messages_sent} messages sent, {messages_delivered} delivered, {messages_failed} failed.",
    ),
    "summary_field": (
        "出动巡查组 {inspection_groups} 个，巡查 {person_trips} 人次、{vehicle_trips} 车次；发现隐患 {hazards_found} 处，整改 {hazards_rectified} 处。",
        "出動巡查組 {inspection_groups} 個，巡查 {person_trips} 人次、{vehicle_trips} 車次；發現隱患 {hazards_found} 處，整改 {hazards_rectified} 處。",
        "{inspection_groups} grupos de inspecção fizeram {person_trips} viagens de pessoas e {vehicle_trips} de viaturas; {hazards_found} perigos encontrados, {hazards_rectified} corrigidos.",
        "{inspection_groups} inspection groups made {person_trips} person-trips and {vehicle_trips} vehicle-trips; {hazards_found} hazards found, {hazards_rectified} rectified.",
    ),
    "summary_people": (
        "转移安置群众 {people_evacuated} 人（疏散令 {evacuation_orders} 道）；驻岛待命队伍 {crews} 支、{crew_people} 人。",
        "轉移安置群眾 {people_evacuated} 人（疏散令 {evacuation_orders} 道）；駐島待命隊伍 {crews} 支、{crew_people} 人。",
        "{people_evacuated} pessoas deslocadas ({evacuation_orders} ordens de evacuação); {crews} equipas de prevenção com {crew_people} pessoas.",
        "{people_evacuated} people moved ({evacuation_orders} evacuation orders); {crews} crews with {crew_people} members on standby.",
    ),
    "summary_liaison": (
        "向澳门方面发出联络通知 {liaison_notices} 次（已确认 {acknowledged} 次），热线通话 {liaison_calls} 次。",
        "向澳門方面發出聯絡通知 {liaison_notices} 次（已確認 {acknowledged} 次），熱線通話 {liaison_calls} 次。",
        "{liaison_notices} avisos de ligação a Macau ({acknowledged} confirmados), {liaison_calls} chamadas na linha directa.",
        "{liaison_notices} liaison notices to Macau ({acknowledged} acknowledged), {liaison_calls} hotline calls.",
    ),
    "decisions": ("关键决定", "關鍵決定", "Decisões-chave", "Key decisions"),
    "no_decisions": (
        "期间没有人员作出的决定。",
        "期間沒有人員作出的決定。",
        "Nenhuma decisão de pessoas.",
        "No decision by people.",
    ),
    "at": ("时间", "時間", "Hora", "At"),
    "who": ("决定人", "決定人", "Quem", "Who"),
    "what": ("决定", "決定", "O quê", "What"),
    "d_signal": ("{s}：{l}", "{s}：{l}", "{s}: {l}", "{s}: {l}"),
    "d_lowered": ("解除{s}", "解除{s}", "{s} arriado", "{s} lowered"),
    "d_broadcast": (
        "发布广播 #{id}「{t}」，{n} 人",
        "發布廣播 #{id}「{t}」，{n} 人",
        "difusão n.º {id} «{t}» a {n} pessoas",
        "broadcast #{id} “{t}” to {n} people",
    ),
    "d_order": (
        "对{z}发布{l}疏散令",
        "對{z}發布{l}疏散令",
        "ordem de evacuação {l} para {z}",
        "{l} evacuation order for {z}",
    ),
    "figures": (
        "工作数据",
        "工作數據",
        "Números do posto de comando",
        "The command post's figures",
    ),
    "messages_sent": (
        "发送预警短信（条）",
        "發送預警短訊（條）",
        "Mensagens enviadas",
        "messages sent",
    ),
    "inspection_groups": (
        "出动巡查组（个）",
        "出動巡查組（個）",
        "Grupos de inspecção",
        "inspection groups out",
    ),
    "person_trips": ("巡查人次", "巡查人次", "Viagens de pessoas", "inspector person-trips"),
    "vehicle_trips": ("出动车次", "出動車次", "Viagens de viaturas", "vehicle-trips"),
    "people_evacuated": ("转移安置人数", "轉移安置人數", "Pessoas deslocadas", "people evacuated"),
    "crews": ("驻岛待命队伍（支）", "駐島待命隊伍（支）", "Equipas de prevenção", "standby crews"),
    "crew_people": (
        "待命人员（人）",
        "待命人員（人）",
        "Pessoas de prevenção",
        "people on standby",
    ),
    "hazards_fr": (
        "发现 / 整改隐患",
        "發現 / 整改隱患",
        "Perigos encontrados / corrigidos",
        "hazards found / rectified",
    ),
    "vulnerable_rf": (
        "已联系 / 跟进重点人员",
        "已聯繫 / 跟進重點人員",
        "Vulneráveis contactados / acompanhados",
        "vulnerable residents reached / followed",
    ),
    "signal_changes_bpfr": (
        "信号变更（人员 / 数据源 / 规则）",
        "信號變更（人員 / 數據源 / 規則）",
        "Mudanças de sinal (pessoas / fontes / regras)",
        "signal changes (by people / feeds / rules)",
    ),
    "broadcasts": ("预警广播", "預警廣播", "Difusões", "broadcasts"),
    "recipients": ("接收人", "接收人", "destinatários", "recipients"),
    "msg_sdf": (
        "短信 发送 / 送达 / 失败",
        "短訊 發送 / 送達 / 失敗",
        "mensagens enviadas / entregues / falhadas",
        "messages sent / delivered / failed",
    ),
    "patrol_trips": ("巡查次数", "巡查次數", "Patrulhas", "patrol trips"),
    "liaison_cn": (
        "热线通话 / 联络通知（已确认）",
        "熱線通話 / 聯絡通知（已確認）",
        "Chamadas / avisos (confirmados)",
        "liaison calls / notices (acknowledged)",
    ),
    "actions_rps": (
        "操作：规则 / 人员 / 系统（审计日志）",
        "操作：規則 / 人員 / 系統（審計日誌）",
        "Acções: regras / pessoas / sistema (registo)",
        "actions by rules / by people / by the system (audit log)",
    ),
    "signals": ("信号", "信號", "Sinais", "Signals"),
    "signal": ("信号", "信號", "Sinal", "signal"),
    "level": ("级别", "級別", "Nível", "level"),
    "from": ("起", "起", "De", "from"),
    "to": ("止", "止", "A", "to"),
    "in_force": ("持续", "持續", "Em vigor", "in force"),
    "still": ("仍生效", "仍生效", "ainda em vigor", "still in force"),
    "changes": ("变更", "變更", "Mudanças", "Changes"),
    "change": ("变更", "變更", "Mudança", "change"),
    "by": ("由", "由", "Por", "by"),
    "lowered": ("解除", "解除", "arriado", "lowered"),
    "broadcasts_h": ("预警广播", "預警廣播", "Difusões de alerta", "Broadcasts"),
    "title_col": ("标题", "標題", "Título", "title"),
    "sent": ("发送", "發送", "Enviadas", "sent"),
    "delivered": ("送达", "送達", "Entregues", "delivered"),
    "failed": ("失败", "失敗", "Falhadas", "failed"),
    "to_first": ("首条用时", "首條用時", "Até à 1.ª", "to first"),
    "to_last": ("末条用时", "末條用時", "Até à última", "to last"),
    "field_h": ("现场工作", "現場工作", "Operações no terreno", "Field operations"),
    "group": ("巡查组", "巡查組", "Grupo", "inspection group"),
    "trips": ("巡查次数", "巡查次數", "Patrulhas", "trips"),
    "hazard": ("隐患", "隱患", "Perigo", "hazard"),
    "severity": ("程度", "程度", "Gravidade", "severity"),
    "place": ("地点", "地點", "Local", "place"),
    "found": ("发现", "發現", "Encontrado", "found"),
    "rectified": ("整改", "整改", "Corrigido", "rectified"),
    "status": ("状态", "狀態", "Estado", "status"),
    "evacuated_to": ("安置地点", "安置地點", "Para onde", "evacuated to"),
    "people": ("人数", "人數", "Pessoas", "people"),
    "crew": ("队伍", "隊伍", "Equipa", "crew"),
    "station": ("驻地", "駐地", "Base", "station"),
    "vulnerable_line": (
        "重点人员：跟进 {f} 人，已联系 {r} 人（探访 {c} 次）。",
        "重點人員：跟進 {f} 人，已聯繫 {r} 人（探訪 {c} 次）。",
        "Residentes vulneráveis: {r} de {f} contactados ({c} visitas).",
        "Vulnerable residents: {r} of {f} reached ({c} checks).",
    ),
    "liaison_h": ("琴澳联络", "琴澳聯絡", "Ligação com Macau", "Liaison with Macau"),
    "notices": ("联络通知", "聯絡通知", "Avisos", "Notices"),
    "notice_about": ("事项", "事項", "Assunto", "about"),
    "count": ("次数", "次數", "N.º", "sent"),
    "acked": ("已确认", "已確認", "Confirmados", "acknowledged"),
    "escalated": ("升级", "升級", "Escalados", "escalated"),
    "first_last": ("首次 — 末次", "首次 — 末次", "Primeiro — último", "first — last"),
    "calls": ("热线通话", "熱線通話", "Chamadas", "Hotline calls"),
    "direction": ("方向", "方向", "Sentido", "call"),
    "caller": ("通话人", "通話人", "Interlocutor", "caller"),
    "summary_col": ("内容", "內容", "Resumo", "summary"),
    "follow_up": ("跟进", "跟進", "Seguimento", "follow-up"),
    "inbound": ("来电", "來電", "recebida", "inbound"),
    "outbound": ("去电", "去電", "feita", "outbound"),
    "other_notices": ("其他通知", "其他通知", "Outros avisos", "other notices"),
    "actions_h": (
        "规则与人员的操作",
        "規則與人員的操作",
        "Acções das regras e das pessoas",
        "Actions by rules and by people",
    ),
    "audit": ("操作", "操作", "Acção", "audit log"),
    "by_rules": ("规则", "規則", "Regras", "by rules"),
    "by_people": ("人员", "人員", "Pessoas", "by people"),
    "by_system": ("系统、数据源", "系統、數據源", "Sistema, fontes", "by the system, feeds"),
    "total": ("合计", "合計", "Total", "total"),
    "rule": ("规则", "規則", "Regra", "rule"),
    "action": ("操作", "操作", "Acção", "action"),
    "timeline": ("时间线", "時間線", "Cronologia", "Timeline"),
    "signoff": ("签发", "簽發", "Assinaturas", "Sign-off"),
    "prepared_by": ("填报人", "填報人", "Preparado por", "Prepared by"),
    "checked_by": ("审核人", "審核人", "Verificado por", "Checked by"),
    "approved_by": (
        "签发人（指挥长）",
        "簽發人（指揮長）",
        "Aprovado por (comandante)",
        "Approved by (commander)",
    ),
    "date": ("日期", "日期", "Data", "Date"),
    "signature": ("签名", "簽名", "Assinatura", "Signature"),
    "c_signals": ("信号生效时段", "信號生效時段", "Sinais em vigor", "Signals in force"),
    "c_delivery": (
        "各广播开始后的短信发送",
        "各廣播開始後的短訊發送",
        "Mensagens enviadas após o início de cada difusão",
        "Messages sent after each broadcast started",
    ),
    "c_field": (
        "现场工作（每图各自刻度）",
        "現場工作（每圖各自刻度）",
        "Operações no terreno (cada gráfico na sua escala)",
        "Field operations (each chart on its own scale)",
    ),
    "c_patrols": ("巡查", "巡查", "Patrulhas", "Patrols"),
    "c_hazards": ("隐患", "隱患", "Perigos", "Hazards"),
    "c_people": ("人员", "人員", "Pessoas", "People"),
    "c_crews": ("队伍", "隊伍", "Equipas", "Crews"),
    "nothing": ("期间没有", "期間沒有", "nada no período", "nothing in the period"),
    "crew_members": ("队员", "隊員", "membros", "crew members"),
    "vulnerable_reached": (
        "已联系重点人员",
        "已聯繫重點人員",
        "vulneráveis contactados",
        "vulnerable residents reached",
    ),
    "hazards_found": ("发现隐患", "發現隱患", "perigos encontrados", "hazards found"),
    "hazards_rectified": ("已整改隐患", "已整改隱患", "perigos corrigidos", "hazards rectified"),
    "mandatory": ("强制", "強制", "obrigatória", "mandatory"),
    "advised": ("建议", "建議", "aconselhada", "advised"),
    "rules_actor": ("规则", "規則", "regra", "rule"),
    "system": ("系统", "系統", "sistema", "system"),
}

WORDS: dict[str, tuple[str, str, str, str]] = {
    # hazard kinds, severities and states; crews; broadcast and notice states; origins
    "fallen_tree": ("倒树", "倒樹", "árvore caída", "fallen tree"),
    "flooding": ("水浸", "水浸", "inundação", "flooding"),
    "loose_object": ("松脱物件", "鬆脫物件", "objecto solto", "loose object"),
    "damaged_structure": ("受损结构", "受損結構", "estrutura danificada", "damaged structure"),
    "power_line": ("电线", "電線", "linha eléctrica", "power line"),
    "landslide": ("山泥倾泻", "山泥傾瀉", "deslizamento", "landslide"),
    "blocked_road": ("道路阻塞", "道路阻塞", "estrada bloqueada", "blocked road"),
    "construction_site": ("工地", "工地", "obra", "construction site"),
    "other": ("其他", "其他", "outro", "other"),
    "low": ("低", "低", "baixa", "low"),
    "medium": ("中", "中", "média", "medium"),
    "high": ("高", "高", "alta", "high"),
    "critical": ("危急", "危急", "crítica", "critical"),
    "open": ("未处理", "未處理", "em aberto", "open"),
    "assigned": ("已派工", "已派工", "atribuído", "assigned"),
    "rectified": ("已整改", "已整改", "corrigido", "rectified"),
    "verified": ("已验收", "已驗收", "verificado", "verified"),
    "standby": ("待命", "待命", "prevenção", "standby"),
    "deployed": ("出动", "出動", "em missão", "deployed"),
    "resting": ("休整", "休整", "descanso", "resting"),
    "released": ("解散", "解散", "dispensada", "released"),
    "completed": ("已完成", "已完成", "concluída", "completed"),
    "sending": ("发送中", "發送中", "a enviar", "sending"),
    "cancelled": ("已取消", "已取消", "cancelada", "cancelled"),
    "awaiting_approval": ("待批准", "待批准", "aguarda aprovação", "awaiting approval"),
    "scheduled": ("已排程", "已排程", "agendada", "scheduled"),
    "acknowledged": ("已确认", "已確認", "confirmado", "acknowledged"),
    "escalated": ("已升级", "已升級", "escalado", "escalated"),
    "operator": ("值班员", "值班員", "operador", "operator"),
    "rule": ("规则", "規則", "regra", "rule"),
    "liaison": ("联络", "聯絡", "ligação", "liaison"),
    "alarm": ("警报", "警報", "alarme", "alarm"),
    "replay": ("演习重演", "演習重演", "repetição", "replay"),
    "cap": ("CAP 数据", "CAP 數據", "CAP", "CAP"),
    "feed": ("数据源", "數據源", "fonte", "feed"),
    "expiry": ("到期", "到期", "expiração", "expiry"),
    "success": ("成功", "成功", "feito", "done"),
    "done": ("完成", "完成", "feito", "done"),
    "skipped": ("跳过", "跳過", "ignorada", "skipped"),
    "overridden": (
        "被人员改变",
        "被人員改變",
        "substituída por uma pessoa",
        "overridden by a person",
    ),
    "failed": ("失败", "失敗", "falhou", "failed"),
}


def text(lang: str, key: str, **values: Any) -> str:
    row = TEXT.get(key)
    value = row[LANGUAGES.index(lang)] if row else key
    return value.format(**values) if values else value


def word(lang: str, value: Any) -> str:
    if value is None:
        return "—"
    row = WORDS.get(str(value))
    return row[LANGUAGES.index(lang)] if row else str(value)


def _signal_name(catalogue: Catalogue, lang: Language, code: str, level: str | None = None) -> str:
    """'SMG:tropical_cyclone' (+ level) in words: the catalogue's own names in `lang`."""
    source, _, kind = code.partition(":")
    try:
        if level is None:
            return catalogue.name(source, kind, None, language=lang)
        return catalogue.name(source, kind, level, language=lang)
    except Exception:  # not in the catalogue any more: its code says enough
        return f"{code}:{level}" if level else code


def present(
    report: dict[str, Any],
    *,
    lang: Language,
    catalogue: Catalogue | None = None,
    zones: ZoneSet | None = None,
    shelters: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """What the templates need beyond the data: names in `lang`, summary, key decisions,
    the figures of the command post, liaison notices grouped."""
    f = report["figures"]

    def sig(code: str, level: str | None = None) -> str:
        return _signal_name(catalogue, lang, code, level) if catalogue is not None else code

    def zone(zone_id: str | None) -> str:
        if not zone_id:
            return "—"
        z = zones.get(zone_id) if zones is not None else None
        return z.label(lang) if z is not None else zone_id

    periods = [
        {**p, "signal_name": sig(p["signal"]), "level_name": sig(p["signal"], p["level"])}
        for p in report["signals"]["periods"]
    ]
    changes = [
        {
            **c,
            "signal_name": sig(c["signal"]),
            "level_name": sig(c["signal"], c["level"]) if c["level"] else text(lang, "lowered"),
            "previous_name": sig(c["signal"], c["previous_level"]) if c["previous_level"] else "—",
        }
        for c in report["signals"]["changes"]
    ]
    top = max(periods, key=lambda p: (p["rank"], p["seconds"]), default=None)

    # the summary's sentences name the figures they show
    summary = [
        text(
            lang, "summary_signals", **f, top=top["level_name"], in_force=_dur(top["seconds"], lang)
        )
        if top
        else text(lang, "summary_none"),
        text(lang, "summary_broadcasts", **f),
        text(lang, "summary_field", **f),
        text(lang, "summary_people", **f),
        text(lang, "summary_liaison", **f, acknowledged=report["liaison"]["acknowledged"]),
    ]

    # Key decisions: what people decided, who and when (the rules' own actions are counted
    # under "Actions by rules and by people").
    decisions = [
        {
            "at": c["at"],
            "at_local": c["at_local"],
            "who": c["actor"],
            "what": text(lang, "d_signal", s=c["signal_name"], l=c["level_name"])
            if c["level"]
            else text(lang, "d_lowered", s=c["signal_name"]),
        }
        for c in changes
        if not c["by_rule"] and c["origin"] in ("operator", "replay")
    ]
    decisions += [
        {
            "at": b["created_at"],
            "at_local": b["created_at_local"],
            "who": b["created_by"],
            "what": text(lang, "d_broadcast", id=b["id"], t=b["title"] or "—", n=b["recipients"]),
        }
        for b in report["broadcasts"]
        if b["by_people"]
    ]
    decisions += [
        {
            "at": o["issued_at"],
            "at_local": o["issued_at_local"],
            "who": o.get("issued_by") or word(lang, o["origin"]),
            "what": text(
                lang,
                "d_order",
                z=zone(o["zone_id"]),
                l=text(lang, o["level"]) if o["level"] in ("mandatory", "advised") else o["level"],
            ),
        }
        for o in report["evacuation"]["orders"]
        if o["origin"] in ("operator", "replay")
    ]
    decisions.sort(key=lambda d: d["at"])

    # Liaison notices grouped by what they were about.
    groups: OrderedDict[str, dict[str, Any]] = OrderedDict()
    for n in report["liaison"]["notices"]:
        about = (
            f"{sig(n['signal'].rsplit(':', 1)[0], n['signal'].rsplit(':', 1)[1])}"
            if n.get("signal") and n["signal"].count(":") == 2
            else (sig(n["signal"]) if n.get("signal") else text(lang, "other_notices"))
        )
        g = groups.setdefault(
            about,
            {
                "about": about,
                "count": 0,
                "acknowledged": 0,
                "escalated": 0,
                "first": n["at_local"],
                "last": n["at_local"],
            },
        )
        g["count"] += 1
        g["acknowledged"] += n["status"] == "acknowledged"
        g["escalated"] += n["status"] == "escalated"
        g["last"] = n["at_local"]

    figures = [  # the command post's figures, in the order it reports them upward
        ("messages_sent", f["messages_sent"]),
        ("inspection_groups", f["inspection_groups"]),
        ("person_trips", f["person_trips"]),
        ("vehicle_trips", f["vehicle_trips"]),
        ("people_evacuated", f["people_evacuated"]),
        ("crews", f["crews"]),
        ("crew_people", f["crew_people"]),
    ]
    hazards = [
        {
            **h,
            "kind_name": word(lang, h["kind"]),
            "severity_name": word(lang, h["severity"]),
            "status_name": word(lang, h["status"]),
        }
        for h in report["hazards"]["items"]
    ]

    def place(name: str) -> str:
        names = (shelters or {}).get(name)
        if names:
            return names.get(lang) or names.get("en") or name
        return zone(name) if zones is not None and zones.get(name) is not None else name

    destinations = {
        place(p): people for p, people in report["evacuation"]["by_destination"].items()
    }
    return {
        "lang": lang,
        "periods": periods,
        "changes": changes,
        "summary": summary,
        "decisions": decisions,
        "notice_groups": list(groups.values()),
        "figures": figures,
        "hazards": hazards,
        "destinations": destinations,
        "crews": [{**c, "status_name": word(lang, c["status"])} for c in report["crews"]["items"]],
        "calls": [
            {
                **c,
                "direction_name": text(lang, c["direction"])
                if c["direction"] in ("inbound", "outbound")
                else c["direction"],
            }
            for c in report["liaison"]["calls"]
        ],
    }


def _dur(seconds: float | None, lang: str) -> str:
    if seconds is None:
        return "—"
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    units = {
        "zh-Hans": ("小时", "分钟"),
        "zh-Hant": ("小時", "分鐘"),
        "pt": (" h ", " min"),
        "en": (" h ", " min"),
    }[lang]
    if hours:
        return f"{hours}{units[0]}{minutes:02d}{units[1]}".replace("  ", " ")
    return f"{minutes}{units[1]}".strip()
