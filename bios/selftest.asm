; oxbox CPU self-test ROM.
;
; Runs on every CPU model (8086 instructions only): checks a handful of
; instructions against values worked out from the Intel manuals, prints one
; line per check on the debug console (port 0xE9), then a verdict, and halts
; with interrupts disabled (oxbox ends the run there).
;
; Build: nasm -f bin -o ../roms/selftest.bin selftest.asm

%include "rom.inc"

; CHECK expected, "name": compare AX with the expected value and report.
%macro CHECK 2
    mov si, %%name
    cmp ax, %1
    call report
    jmp %%after
%%name: db %2, 0
%%after:
%endmacro

start:
    cli
    xor ax, ax
    mov ss, ax
    mov sp, 0x7C00
    mov es, ax
    mov ax, cs
    mov ds, ax
    xor bp, bp                  ; failures
    mov si, banner
    call print

    ; ADD sets CF on unsigned overflow; ADC adds it back in.
    mov ax, 0xFFFF
    add ax, 1
    adc ax, 0
    CHECK 1, "add/adc carry"

    ; SUB borrows; SBB subtracts the borrow: 0 - 1 = FFFF (CF=1), FFFF - 0 - 1 = FFFE.
    xor ax, ax
    sub ax, 1
    sbb ax, 0
    CHECK 0xFFFE, "sub/sbb borrow"

    ; MUL: 1234 * 56 = 69104 = 0x10DF0 -> DX=1, AX=0x0DF0.
    mov ax, 1234
    mov bx, 56
    mul bx
    push dx
    CHECK 0x0DF0, "mul low word"
    pop ax
    CHECK 1, "mul high word"

    ; DIV: 0x10DF0 / 56 = 1234 remainder 0.
    mov dx, 1
    mov ax, 0x0DF0
    mov bx, 56
    div bx
    CHECK 1234, "div"

    ; IDIV truncates toward zero: -100 / 7 = -14 remainder -2.
    mov ax, -100
    cwd
    mov bx, 7
    idiv bx
    push dx
    CHECK -14, "idiv quotient"
    pop ax
    CHECK -2, "idiv remainder"

    ; DAA: 38 + 45 = 7D, adjusted to BCD 83.
    mov al, 0x38
    add al, 0x45
    daa
    xor ah, ah
    CHECK 0x83, "daa"

    ; ROL by CL: 0x8001 rotated left 4 = 0x0018.
    mov ax, 0x8001
    mov cl, 4
    rol ax, cl
    CHECK 0x0018, "rol"

    ; SAR keeps the sign: 0x8000 >> 3 = 0xF000.
    mov ax, 0x8000
    mov cl, 3
    sar ax, cl
    CHECK 0xF000, "sar"

    ; LOOP: sum of 1..1000 = 500500 = 0x7A314; the low word is 0xA314.
    xor ax, ax
    mov cx, 1000
.sum:
    add ax, cx
    loop .sum
    CHECK 0xA314, "loop sum"

    ; REP MOVSB copies the banner to 0000:0600; REPE CMPSB finds no
    ; difference, so it runs CX down to zero.
    mov si, banner
    mov di, 0x600
    mov cx, 16
    cld
    rep movsb
    mov si, banner
    mov di, 0x600
    mov cx, 16
    repe cmpsb
    mov ax, cx
    CHECK 0, "rep movsb / repe cmpsb"

    ; CALL/RET through the stack.
    call give_1234
    CHECK 0x1234, "call/ret"

    ; INT through the interrupt vector table (vector 0x80 at 0000:0200).
    mov word [es:0x80 * 4], int80
    mov word [es:0x80 * 4 + 2], cs
    int 0x80
    CHECK 0xBEEF, "int/iret"

    ; XLAT: AL = [BX + AL] in DS.
    mov bx, table
    mov al, 3
    xlat
    xor ah, ah
    CHECK 0x40, "xlat"

    ; Verdict.
    mov si, passed
    test bp, bp
    jz .verdict
    mov si, failed
.verdict:
    call print
    cli
    hlt
    jmp .verdict

give_1234:
    mov ax, 0x1234
    ret

int80:
    mov ax, 0xBEEF
    iret

; report: ZF=1 means the check passed; SI names it.
report:
    push si
    mov si, s_ok
    jz .print
    inc bp
    mov si, s_fail
.print:
    call print
    pop si
    call print
    mov si, s_nl
    call print
    ret

; print: the NUL-terminated string at DS:SI to the debug console.
print:
    push ax
.next:
    lodsb
    test al, al
    jz .done
    out DEBUGCON, al
    jmp .next
.done:
    pop ax
    ret

banner: db "oxbox CPU self-test ROM", 10, 0
passed: db "self-test passed", 10, 0
failed: db "self-test FAILED", 10, 0
s_ok:   db "  ok    ", 0
s_fail: db "  FAIL  ", 0
s_nl:   db 10, 0
table:  db 0x10, 0x20, 0x30, 0x40, 0x50

%include "rom_end.inc"
