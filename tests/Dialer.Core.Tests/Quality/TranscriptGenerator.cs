using Dialer.Core.Quality;

namespace Dialer.Tests.Quality;

/// <summary>A transcript with the rules it truly violates and the rules it holds a near-miss for (must not be flagged).</summary>
public sealed record LabelledTranscript(string Id, string Language, Transcript Transcript, IReadOnlySet<string> Violations, IReadOnlySet<string> NearMisses);

/// <summary>
/// Renewal calls built from templates, deterministic for a seed: an opening with the disclosures (in time, late, or
/// missing), filler talk about the policy, violations and near-misses of each forbidden rule, customer lines that say a
/// forbidden phrase (an agent rule must not hear them), early hang-ups, and the recognisers' quirks — traditional
/// characters, spaces between characters, full-width letters, no punctuation. Labels follow from what was put in.
/// Used by the QA tests (precision and recall) and by the QA benchmark (linked into bench/, one source).
/// </summary>
public static class TranscriptGenerator
{
    private sealed record Lines(string[] Violations, string[] NearMisses);

    private sealed record Language(
        string Code, double UnitsPerSecond, string[] Identity, string[] IdentityNearMiss, string[] Recording, string[] RecordingNegated,
        string[] Refusal, string[] AgentFiller, string[] CustomerFiller, string[] CustomerForbidden, string HangUp, Dictionary<string, Lines> Forbidden);

    private static readonly string[] ZhNames = ["小王", "李娜", "张伟", "刘洋", "陈静"], ZhCompanies = ["平安", "人保", "太平洋", "大地", "阳光"];
    private static readonly string[] EnNames = ["David", "Lily", "Grace", "Tom", "Ken"], EnCompanies = ["Sunshine", "Pacific", "Harbour", "Evergreen", "Lotus"];

    private static readonly Language Zh = new("zh", 4.5,
        Identity: ["您好，我是{co}车险的续保专员{name}。", "您好，这里是{co}保险，我是客服{name}。", "喂，您好，我这边是{co}财险的{name}，打扰您一下。"],
        IdentityNearMiss: ["您好，我是{name}，跟您说一下车子的事情。", "您好，请问是车主本人吗？"],
        Recording: ["为了保障您的权益，本次通话将会录音。", "提醒您一下，我们的通话全程录音。", "本次通话可能会被录音，请您知悉。"],
        RecordingNegated: ["您放心，这通电话不会录音的。", "我们这个电话没有录音，您随便说。"],
        Refusal: ["如果您不需要续保提醒，可以随时告诉我们，我们将不再致电。", "如您不想再接到这类电话，跟我说一声，以后不再联系您。", "您可以随时拒绝，我们不会再给您打电话。"],
        AgentFiller: ["您的车险保单将在12月5日到期，今天来电是提醒您续保。", "今年您的保费是三千二百元，因为去年没有出险，享受了无赔款优待。",
            "商业险包括车损险和三者险，三者险建议您保两百万。", "交强险是国家规定必须买的，商业险您可以自己选择。",
            "方便的话我把报价用短信发给您，您可以对比一下。", "理赔需要按照条款约定，出险后请第一时间拨打客服电话报案。",
            "您的车是去年三月份过户的对吧，行驶证上的信息我们核对一下。", "划痕险和玻璃险您看需不需要加上。"],
        CustomerFiller: ["嗯，好的。", "多少钱啊？", "我再考虑一下吧。", "去年我出过一次小险。", "你发短信给我吧。", "好，知道了。", "跟去年比贵了还是便宜了？", "我在开车，你说快一点。"],
        CustomerForbidden: ["你们这个是强制续保吗？", "我朋友说别家续保有返现。", "出了事你们保证赔付吗？"],
        HangUp: "不需要，谢谢，我这边忙。",
        Forbidden: new()
        {
            ["compulsory-renewal"] = new(
                ["这个续保是强制的，您必须办理。", "按照规定您必须在我们这里续保。", "不续保就违法了，会被罚款的。", "您这个车一定要续保的，系统里是强制性续保。"],
                ["续保不是强制的，完全看您自己的意愿。", "我们不是强制续保，您可以比较一下其他公司。", "交强险是国家强制的，商业险续保您自己决定。"]),
            ["fake-discount"] = new(
                ["今天给您内部价，比别人便宜很多。", "续保的话我们再返您五百块现金。", "现在续保送加油卡一张。", "老客户这次给您打五折。"],
                ["我们没有返现这种做法，公司严禁返现。", "您去年没出险，所以有无赔款优待，保费打了八五折。", "优惠以保单上的金额为准，不能返现金。"]),
            ["guaranteed-payout"] = new(
                ["您放心，出了事都赔，保证赔付。", "买了我们的保险肯定能赔。", "什么都赔的，您不用担心。"],
                ["理赔要按照条款来，我们不能保证一定赔付。", "是否赔付以定损结果为准。"]),
            ["pressure-selling"] = new(
                ["这个优惠今天是最后一天了，过了今天就没有了。", "名额有限，您得马上决定。", "您必须今天办理，不然就涨价了。"],
                ["您的保单最后一天是12月5日，您可以慢慢考虑。", "不用今天决定，您考虑好了再联系我们。"]),
        });

    private static readonly Language En = new("en", 2.6,
        Identity: ["Hello, this is {name} from {co} Insurance.", "Hi, my name is {name}, I'm calling from {co} Insurance about your car policy.", "Good morning, {name} here with {co} Insurance, the renewals team."],
        IdentityNearMiss: ["Hi, this is about your insurance, do you have a minute?", "Hello, am I speaking with the policy holder?"],
        Recording: ["Please note this call is recorded for quality and training.", "This call may be recorded.", "Just so you know, calls are recorded."],
        RecordingNegated: ["Don't worry, this call is not being recorded.", "We're off the record here, nothing is recorded."],
        Refusal: ["If you'd rather not receive these calls, just tell me and we won't call you again.", "You can opt out at any time.", "You can say no at any time and we will not call you again."],
        AgentFiller: ["Your car policy ends on December 5th, so I'm calling about the renewal.", "This year's premium is 820 pounds, and your no-claims discount is already applied.",
            "The policy covers damage to your car and third-party liability.", "Third-party cover is required by law, the rest of the cover is your choice.",
            "I can email you the quote so you can compare it with others.", "Claims are handled under the policy terms, you report them on our claims line.",
            "Could you confirm the car is still kept at the same address?", "Would you like to add windscreen cover this year?"],
        CustomerFiller: ["Okay.", "How much is it?", "Let me think about it.", "I had a small claim last year.", "Can you email it to me?", "Right, got it.", "Is that more than last year?", "I'm driving, can you be quick?"],
        CustomerForbidden: ["Is renewal compulsory?", "My friend got cash back from another insurer.", "So every claim is paid, right?"],
        HangUp: "Not interested, thanks, I'm busy.",
        Forbidden: new()
        {
            ["compulsory-renewal"] = new(
                ["Renewal is compulsory, you have to do it.", "You must renew with us, it's the rule.", "By law you're required to renew your policy."],
                ["Renewal is not compulsory, it's completely up to you.", "Third-party cover is compulsory by law, but renewing with us is your choice.", "You don't have to renew with us."]),
            ["fake-discount"] = new(
                ["If you renew today I can give you 100 pounds cash back.", "I can offer you our internal price, much lower than usual.", "Renew now and you get a free fuel card.", "For you it's 50% off this year."],
                ["We don't offer cash back, any discount is written in your policy.", "Your no-claims discount brings the premium down by 15 percent."]),
            ["guaranteed-payout"] = new(
                ["Don't worry, it's a guaranteed payout.", "We always pay every claim, no questions asked.", "With us, claims are always paid."],
                ["We can't guarantee any claim will be paid, it depends on the terms.", "Claims are paid according to the policy terms."]),
            ["pressure-selling"] = new(
                ["You must decide today, the price goes up tomorrow.", "This offer ends today, so I need an answer now.", "Limited places left, you'll regret it."],
                ["You don't need to decide today, take your time.", "The last day of your cover is December 5th."]),
        });

    // Simplified → traditional for the characters the templates use: what a Hong Kong or Taiwan recogniser writes.
    private static readonly Dictionary<char, char> Traditional = "强強续續优優虚虛证證赔賠险險录錄话話电電这這们們会會没沒须須价價钱錢额額车車买買费費对對过過时時间間请請问問说說让讓员員专專错錯后後决決马馬办辦现現礼禮给給将將还還联聯规規违違罚罰财財点點无無条條择擇愿願涨漲制製么麼边邊样樣吗嗎个個别別严嚴张張刘劉陈陳为為业業内內帮幫护護谢謝诉訴"
        .Chunk(2).ToDictionary(p => p[0], p => p[1]);

    public static IReadOnlyList<LabelledTranscript> Generate(int count, int seed, double targetSeconds = 300)
    {
        var random = new Random(seed);
        var list = new List<LabelledTranscript>(count);
        for (var i = 0; i < count; i++) list.Add(One(random, $"gen-{seed}-{i:D4}", random.Next(2) == 0 ? Zh : En, targetSeconds));
        return list;
    }

    private static LabelledTranscript One(Random random, string id, Language lang, double targetSeconds)
    {
        var segments = new List<Segment>();
        var violations = new HashSet<string>();
        var nearMisses = new HashSet<string>();
        var t = 0.3;
        var style = random.Next(10); // 0–1 traditional script (Chinese), 2 spaced characters, 3 full-width, 4–5 no punctuation
        string Pick(string[] options) => options[random.Next(options.Length)];
        string Fill(string s) => s.Replace("{name}", Pick(lang.Code == "zh" ? ZhNames : EnNames)).Replace("{co}", Pick(lang.Code == "zh" ? ZhCompanies : EnCompanies));
        void Say(Speaker who, string text)
        {
            text = Quirk(Fill(text), style, lang.Code, random);
            var seconds = Math.Max(1.0, Units(text, lang.Code) / lang.UnitsPerSecond);
            segments.Add(new Segment(who, Math.Round(t, 2), Math.Round(t + seconds, 2), text));
            t += seconds + 0.3 + random.NextDouble();
        }
        void Filler(int n) { for (var k = 0; k < n; k++) Say(k % 2 == 0 ? Speaker.Customer : Speaker.Agent, k % 2 == 0 ? Pick(lang.CustomerFiller) : Pick(lang.AgentFiller)); }

        // Opening: identity and recording notice each in time (70%), late (15%) or missing (15%), sometimes a near-miss instead.
        var identity = random.Next(100);
        var recording = random.Next(100);
        if (identity < 70) Say(Speaker.Agent, Pick(lang.Identity));
        else { Say(Speaker.Agent, Pick(lang.IdentityNearMiss)); nearMisses.Add("identity-disclosure"); }
        if (recording < 70) Say(Speaker.Agent, Pick(lang.Recording));
        else if (recording < 80) { Say(Speaker.Agent, Pick(lang.RecordingNegated)); nearMisses.Add("recording-notice"); }

        if (random.Next(10) == 0)
        {
            // The customer hangs up within seconds: the late or missing disclosures were not the agent's to make yet.
            Say(Speaker.Customer, lang.HangUp);
            return new LabelledTranscript(id, lang.Code, new Transcript(segments, Math.Round(t, 2)), violations, nearMisses);
        }
        while (t < 36) Filler(2); // past the 30 s deadline
        if (identity is >= 70 and < 85) Say(Speaker.Agent, Pick(lang.Identity));
        if (recording is >= 80 and < 90) Say(Speaker.Agent, Pick(lang.Recording));
        if (identity >= 70) violations.Add("identity-disclosure");
        if (recording >= 70) violations.Add("recording-notice");

        // The body: each forbidden rule violated (12%) and/or near-missed (30%), at random places among the filler.
        var inserts = new List<(string Text, Speaker Who)>();
        foreach (var (rule, lines) in lang.Forbidden)
        {
            if (random.Next(100) < 12) { inserts.Add((Pick(lines.Violations), Speaker.Agent)); violations.Add(rule); }
            if (random.Next(100) < 30) { inserts.Add((Pick(lines.NearMisses), Speaker.Agent)); nearMisses.Add(rule); }
        }
        if (random.Next(100) < 25) inserts.Add((Pick(lang.CustomerForbidden), Speaker.Customer));
        var refusal = random.Next(100) < 85;
        var budget = targetSeconds - 20;
        foreach (var (text, who) in inserts.OrderBy(_ => random.Next()))
        {
            Filler(1 + random.Next(4));
            Say(who, text);
        }
        while (t < budget) Filler(2);
        if (refusal) Say(Speaker.Agent, Pick(lang.Refusal));
        else violations.Add("refusal-offer");
        Say(Speaker.Customer, Pick(lang.CustomerFiller));
        return new LabelledTranscript(id, lang.Code, new Transcript(segments, Math.Round(t, 2)), violations, nearMisses);
    }

    private static double Units(string text, string language) =>
        language == "zh" ? text.Count(TextFolding.IsCjk) : text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;

    /// <summary>What recognisers do to text: the rule engine's normalisation must see through all of it.</summary>
    private static string Quirk(string text, int style, string language, Random random) => style switch
    {
        0 or 1 when language == "zh" => new string([.. text.Select(c => Traditional.GetValueOrDefault(c, c))]),
        2 when language == "zh" => string.Join(' ', text.Select(c => c.ToString())), // one space between every character
        2 => text.ToUpperInvariant(),
        3 => new string([.. text.Select(c => c is >= '!' and <= '~' && random.Next(2) == 0 ? (char)(c + 0xFEE0) : c)]),
        4 or 5 => new string([.. text.Where(c => !char.IsPunctuation(c) || c == '\'')]),
        _ => text,
    };
}
