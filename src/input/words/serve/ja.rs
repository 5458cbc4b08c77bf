//! `serve`'s words in Japanese (polite form).

use super::Say::{self, *};

pub(super) fn text(say: Say) -> &'static str {
    match say {
        ProblemTitle => "問題が発生しました",
        NotFoundTitle => "このページは見つかりません",
        NotFound => "アドレスが間違っているか、ページが移動した可能性があります。",
        IssuesSoFar => "これまでの号を読む",
        EmailLabel => "メールアドレス",
        NameLabel => "お名前（任意）",
        LeaveEmpty => "この欄は空のままにしてください",
        SubscribeButton => "登録する",
        SignupNote => "確認用のリンクをメールでお送りします。",
        TopicsLegend => "受け取りたい内容を選んでください",
        SubscribeTitle => "購読のお申し込み",
        ConfirmTitle => "購読の確認",
        ConfirmDetails => "内容をご確認のうえ、ボタンを押して {email} の購読を確定してください。",
        ConfirmButton => "確定する",
        InboxTitle => "受信箱をご確認ください",
        InboxSent => {
            "アドレスが正しければ、確認用リンクを記載したメールをお送りしました。\
             メールを開いて「確定する」を押すと購読が始まります。"
        }
        InboxNothing => {
            "数分たっても届かない場合は、迷惑メールフォルダをご確認いただくか、\
             もう一度お申し込みください。"
        }
        SubscribedTitle => "購読を開始しました",
        Subscribed => "{email} に次号からお届けします。",
        AlreadyTitle => "すでに購読中です",
        Already => {
            "この確認リンクはすでに使われています。購読は完了しているので、\
             これ以上の操作は不要です。"
        }
        StaleTitle => "このリンクは無効になりました",
        SignUpAgain => "新しいリンクを受け取るには、下のフォームからもう一度お申し込みください。",
        UnsubscribeTitle => "配信停止",
        UnsubscribePress => "ボタンを押すと、{email} への{name}の配信を停止します。",
        UnsubscribeButton => "配信を停止する",
        UnsubscribedTitle => "配信を停止しました",
        Unsubscribed => "{email} には今後{name}からのメールは届きません。",
        UndoOffer => "誤って押しましたか？24時間以内なら取り消せます。",
        UndoButton => "取り消して購読を続ける",
        ResubscribedTitle => "購読を再開しました",
        Resubscribed => "{email} には、これまでどおり{name}の次号をお届けします。",
        UndoStaleTitle => "この操作は取り消せません",
        UndoStale => {
            "配信停止から1日以上たっているか、すでに取り消し済みか、その後に変更がありました。\
             ニュースレターを受け取りたい場合は、下のフォームからお申し込みください。"
        }
        ConfirmInvalid => {
            "この確認リンクは無効です。リンク全体がコピーされているかご確認ください。"
        }
        ConfirmUsed => "この確認リンクはすでに使われているか、その後アドレスの状態が変わりました。",
        ConfirmExpired => "この確認リンクは有効期限が切れています。",
        UnsubscribeInvalid => {
            "この配信停止リンクは無効です。リンク全体がコピーされているかご確認ください。"
        }
        ListBusy => "ただいまリストを変更できません。1分ほどたってから、もう一度お試しください。",
        TooManySignups => {
            "お使いのアドレスからのお申し込みが多すぎます。1分ほど待ってから、もう一度お試しください。"
        }
        TooManyRequests => {
            "お使いのアドレスからのリクエストが多すぎます。1分ほど待ってから、もう一度お試しください。"
        }
        NotAnAddress => "メールアドレスの形式ではありません。前のページに戻ってご確認ください。",
        SignupsBusy => {
            "ただいまお申し込みが集中しています。1分ほどたってから、もう一度お試しください。"
        }
        NameTooLong => {
            "お名前は100文字以内で入力してください。前のページに戻って短くしてください。"
        }
        NameControl => "お名前に改行や制御文字は使えません。",
        FormTooBig => "フォームが64 KBを超えています。",
        FormTooSlow => "フォームの受信に時間がかかりすぎました。",
        FormUnreadable => "フォームを読み取れませんでした。",
        FormKind => {
            "フォームは application/x-www-form-urlencoded または multipart/form-data で送信してください。"
        }
        MailSubject => "{name}の購読確認",
        MailAsked => {
            "どなたか（おそらくご本人）が、このアドレスで{name}のメール購読を申し込みました。"
        }
        MailPress => "購読を始めるには、ボタンを押してから「確定する」を押してください。",
        MailOpen => "購読を始めるには、次のリンクを開いて「確定する」を押してください：",
        MailButton => "購読を確定する",
        MailOrOpen => "または次のリンクを開いてください：",
        MailLasts => {
            "リンクの有効期限は{lasts}です。お心当たりがない場合は、このメールを無視してください。\
             確認されない限り購読は始まらず、今後メールが届くこともありません。"
        }
        OneMinute => "1分",
        Minutes => "{n}分",
        OneHour => "1時間",
        Hours => "{n}時間",
        Days => "{n}日間",
        WaysLabel => "その他",
        WaysSubscribe => "購読する",
        WaysArchive => "これまでの号",
        LangLabel => "言語",
        IndexAbout => "{name}のこれまでの全号。",
        IndexFeed => "フィードを購読",
    }
}
